"""Trust modes (SPEC §7): verified evidence in, a verdict per artifact out. Fails closed: in
`certified` mode an empty trust store trusts nothing."""

from __future__ import annotations

from collections.abc import Sequence

from triage.models import (
    ArtifactEvidence,
    Identity,
    Level,
    PublisherRule,
    TrustResult,
    Verdict,
)

MODES = ("basic", "certified")


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
    if not publishers:
        return TrustResult(
            evidence,
            Verdict.UNTRUSTED,
            "trust-store/publishers.toml lists no publisher: certified mode trusts nothing",
            True,
        )
    for identity in evidence.verified:
        if any(listed(rule, identity, evidence.package) for rule in publishers):
            return TrustResult(
                evidence,
                Verdict.TRUSTED,
                f"attested by {identity}, listed in trust-store/publishers.toml",
                False,
            )
    if evidence.verified:
        who = ", ".join(str(i) for i in evidence.verified)
        return TrustResult(
            evidence,
            Verdict.UNTRUSTED,
            f"attested by {who}, which trust-store/publishers.toml does not "
            f"list for {evidence.package}",
            True,
        )
    return TrustResult(evidence, Verdict.UNTRUSTED, "; ".join(evidence.failures), True)
