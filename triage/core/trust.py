"""Trust modes (SPEC §7): verified evidence in, a verdict per artifact out. Fails closed: in
`certified` mode an empty trust store trusts nothing."""

from __future__ import annotations

from collections.abc import Sequence

from triage.core.matching import parse_version
from triage.models import (
    ArtifactEvidence,
    AuditRecord,
    Identity,
    Level,
    PublisherRule,
    TrustResult,
    Verdict,
)


def listed(rule: PublisherRule, identity: Identity, package: str) -> bool:
    """The identity is the rule's (repository compared case-insensitively, as GitHub does),
    the rule's environment if it names one, and the package is within the rule's scope."""
    wanted = rule.identity
    return (
        wanted.kind == identity.kind
        and wanted.repository.lower() == identity.repository.lower()
        and wanted.workflow == identity.workflow
        and (wanted.environment is None or wanted.environment == identity.environment)
        and (not rule.packages or package in rule.packages)
    )


def judge(
    evidence: ArtifactEvidence,
    mode: str,
    publishers: Sequence[PublisherRule],
    *,
    unsigned: Level,
) -> TrustResult:
    if not evidence.verified and not evidence.failures:
        return TrustResult(
            evidence, Verdict.UNSIGNED, "no provenance for this file", unsigned is Level.DENY
        )
    if mode == "basic":
        if evidence.verified:
            who = ", ".join(str(i) for i in evidence.verified)
            return TrustResult(evidence, Verdict.TRUSTED, f"attested by {who}", False)
        return TrustResult(evidence, Verdict.UNTRUSTED, "; ".join(evidence.failures), True)
    if not evidence.verified:
        return TrustResult(evidence, Verdict.UNTRUSTED, "; ".join(evidence.failures), True)
    for identity in evidence.verified:
        if identity.kind == "key":  # verified with a key the trust store holds
            return TrustResult(
                evidence,
                Verdict.TRUSTED,
                f"signed with {identity.repository} from trust-store/keys/",
                False,
            )
        if any(listed(rule, identity, evidence.package) for rule in publishers):
            return TrustResult(
                evidence,
                Verdict.TRUSTED,
                f"attested by {identity}, listed in trust-store/publishers.toml",
                False,
            )
    who = ", ".join(str(i) for i in evidence.verified)
    if not publishers:
        why = "trust-store/publishers.toml lists no publisher: certified mode trusts nothing"
    else:
        why = f"trust-store/publishers.toml does not list it for {evidence.package}"
    return TrustResult(evidence, Verdict.UNTRUSTED, f"attested by {who}, but {why}", True)


def _same(a: str, b: str) -> bool:
    parsed_a, parsed_b = parse_version(a), parse_version(b)
    return parsed_a == parsed_b if parsed_a and parsed_b else a == b


def audit_coverage(
    records: Sequence[AuditRecord], package: str, version: str, *, sha256: str
) -> tuple[bool, str]:
    """Covered by a full audit of this exact version, or by a chain of delta audits from an
    audited version; records with a problem (signature, key) count for nothing, and a record
    that lists the digests it audited covers only those artifacts."""
    mine = [r for r in records if r.package == package]
    usable = [r for r in mine if r.problem is None]
    reached: dict[str, list[AuditRecord]] = {
        r.version: [r] for r in usable if r.from_version is None
    }
    frontier = list(reached)
    while frontier:
        current = frontier.pop()
        for delta in usable:
            if (
                delta.from_version is not None
                and _same(delta.from_version, current)
                and not any(_same(delta.version, seen) for seen in reached)
            ):
                reached[delta.version] = [*reached[current], delta]
                frontier.append(delta.version)
    for audited, chain in reached.items():
        if _same(audited, version):
            if chain[-1].digests and sha256 not in chain[-1].digests:
                return False, (
                    f"the audit of {package} {audited} lists other artifacts, not "
                    f"sha256:{sha256[:12]}…"
                )
            first = chain[0]
            path = " -> ".join([first.version, *(d.version for d in chain[1:])])
            how = f"audited {path}" if len(chain) > 1 else f"audited {first.version}"
            return True, f"{how} ({first.criteria}, {first.who}, {first.source})"
    problems = [
        f"{r.source} record for {r.version}: {r.problem}"
        for r in mine
        if r.problem and _same(r.version, version)
    ]
    if problems:
        return False, "; ".join(problems)
    if not records:
        return False, "no audit records: audit mode trusts nothing"
    return False, f"no audit record covers {package} {version}"


def judge_audited(evidence: ArtifactEvidence, records: Sequence[AuditRecord]) -> TrustResult:
    covered, reason = audit_coverage(
        records, evidence.package, evidence.version, sha256=evidence.sha256
    )
    return TrustResult(
        evidence, Verdict.TRUSTED if covered else Verdict.UNTRUSTED, reason, not covered
    )


def hash_only(filename: str) -> bool:
    """Whether `filename` stands for a hash-only pin (no file name of its own: see below)."""
    return filename.endswith(")") and " (sha256:" in filename
