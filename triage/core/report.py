"""Renderers for scan results: text, JSON (SPEC §8, `triage/scan-v1`) and markdown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from triage.core import escape
from triage.core.matching import parse_version
from triage.models import AssessedFinding, IgnoreRule, ScanResult, TrustResult, Unpinned

if TYPE_CHECKING:
    from triage.core.diffing import DiffResult

SCAN_SCHEMA = "triage/scan-v1"


def ignore_json(rule: IgnoreRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {
        "id": rule.id,
        "package": rule.package,
        "reason": rule.reason,
        "issue": rule.issue,
        "expires": rule.expires.isoformat() if rule.expires else None,
    }


def finding_json(item: AssessedFinding) -> dict[str, Any]:
    finding = item.finding
    return {
        "key": str(finding.key),
        "advisory": finding.advisory,
        "aliases": list(finding.aliases),
        "package": finding.package,
        "version": finding.versions[0],
        "lockfiles": list(finding.lockfiles),
        "fixed_versions": list(finding.fixed_versions),
        "severity": finding.severity.label,
        "status": item.status.value,
        "ignore": ignore_json(item.ignore),
    }


def unpinned_json(item: Unpinned) -> dict[str, Any]:
    return {
        "package": item.name,
        "lockfile": item.lockfile,
        "location": item.location,
        "reason": item.reason,
        "possibly_affected": list(item.possibly_affected),
    }


def scan_json(result: ScanResult) -> str:
    db = result.database
    document = {
        "schema": SCAN_SCHEMA,
        "database": {
            "digest": db.digest,
            "records": db.records,
            "newest_modified": db.newest_modified,
            "age_days": db.age_days,
        },
        "findings": [finding_json(f) for f in result.findings],
        "unpinned": [unpinned_json(u) for u in result.unpinned],
        "policy": {
            "violations": [
                {"code": d.code, "level": d.level.value, "message": d.message}
                for d in result.diagnostics
            ],
            "unused_ignores": [ignore_json(rule) for rule in result.unused_ignores],
        },
        "packages": result.package_count,
        "lockfiles": [
            {
                "path": r.path,
                "format": r.format,
                "packages": r.packages,
                "unpinned": r.unpinned,
                "workspace_members": list(r.members),
            }
            for r in result.lockfiles
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _data_line(result: ScanResult) -> str:
    db = result.database
    age = f"{db.age_days} days old" if db.age_days is not None else "age unknown"
    return (
        f"advisory data: {db.records} records, newest modified {db.newest_modified or '-'} "
        f"({age}), {db.digest[:19]}"
    )


def _versions(item: AssessedFinding) -> str:
    return ", ".join(item.finding.versions)


def _fixes(item: AssessedFinding) -> str:
    return ", ".join(item.finding.fixed_versions) or "no fix yet"


def _summary(result: ScanResult) -> str:
    failing = sum(1 for f in result.findings if f.fails)
    return (
        f"{len(result.findings)} finding(s), {failing} failing the policy; "
        f"{result.package_count} package(s) in {len(result.lockfiles)} lockfile(s); "
        f"{len(result.unpinned)} unpinned"
    )


def scan_text(result: ScanResult) -> str:
    lines = [_data_line(result)]
    if result.findings:
        lines.append("")
    for item in result.findings:
        finding = item.finding
        mark = "FAIL" if item.fails else "note"
        lines.append(
            f"{mark}  {finding.key}  {finding.package} {_versions(item)}  "
            f"[{finding.severity.label}, {item.status.value}]"
        )
        if finding.aliases:
            lines.append(f"      aliases: {', '.join(finding.aliases)}")
        lines.append(f"      fixed in: {_fixes(item)};  lockfiles: {', '.join(finding.lockfiles)}")
        if item.ignore is not None:
            until = item.ignore.expires.isoformat() if item.ignore.expires else "no expiry"
            lines.append(f"      ignore: {item.ignore.reason or '(no reason)'} ({until})")
    if result.unpinned:
        lines.append("")
        lines.extend(
            f"unpinned  {u.lockfile}:{u.location}  {u.name}: {u.reason}"
            + (
                f"; possibly affected: {', '.join(u.possibly_affected)}"
                if u.possibly_affected
                else ""
            )
            for u in result.unpinned
        )
    if result.diagnostics:
        lines.append("")
        lines.extend(f"{d.level.value}[{d.code}]: {d.message}" for d in result.diagnostics)
    lines.extend(["", _summary(result)])
    return "\n".join(lines) + "\n"


_cell = escape.text


def scan_markdown(result: ScanResult) -> str:
    lines = ["## triage scan", "", f"_{_data_line(result)}_", ""]
    if result.findings:
        lines += [
            "| advisory | package | version | severity | status | fixed in |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(f.finding.advisory)} | {_cell(f.finding.package)} | {_cell(_versions(f))} "
            f"| {f.finding.severity.label} | {f.status.value} | {_cell(_fixes(f))} |"
            for f in result.findings
        ]
    else:
        lines.append("No known advisories affect the locked dependencies.")
    if result.unpinned:
        lines += ["", "**Unpinned** (not matched):", ""]
        lines += [
            f"- {escape.code(u.lockfile)} {_cell(u.location)}: {_cell(u.name)} — {_cell(u.reason)}"
            + (
                f"; possibly affected: {_cell(', '.join(u.possibly_affected))}"
                if u.possibly_affected
                else ""
            )
            for u in result.unpinned
        ]
    if result.diagnostics:
        lines += ["", "**Policy:**", ""]
        lines += [f"- {d.level.value} `{d.code}`: {_cell(d.message)}" for d in result.diagnostics]
    lines += ["", _summary(result)]
    return "\n".join(lines) + "\n"


RENDERERS = {"text": scan_text, "json": scan_json, "markdown": scan_markdown}


# --- diff and the pull-request comment -----------------------------------------------------

DIFF_SCHEMA = "triage/diff-v1"
PR_COMMENT_MARKER = "<!-- triage:pr-comment -->"


def ignore_line(item: AssessedFinding) -> str:
    """The exact command that accepts a finding (the reason and issue are the reviewer's);
    `--package` keeps the ignore to this finding's package, not every package the advisory
    names. The key is safe inside a code block: ids are validated at sync."""
    return (
        f'triage ignore {item.finding.key} --reason "<why this is acceptable>" '
        "--issue <tracking issue URL> --package"
    )


def diff_json(result: DiffResult) -> str:
    changes = result.policy
    document = {
        "schema": DIFF_SCHEMA,
        "base": result.base,
        "head": result.head,
        "new": [finding_json(f) for f in result.new],
        "fixed": [finding_json(f) for f in result.fixed],
        "unchanged": [finding_json(f) for f in result.unchanged],
        "policy_changes": {
            "ignores_added": [ignore_json(r) for r in changes.ignores_added],
            "ignores_removed": [ignore_json(r) for r in changes.ignores_removed],
            "ignores_loosened": [
                {"before": ignore_json(before), "after": ignore_json(after)}
                for before, after in changes.ignores_loosened
            ],
            "trust_store_changed": bool(changes.trust_store_changed),
            "trust_store_paths": list(changes.trust_store_changed),
            "lockfiles_removed": list(changes.lockfiles_removed),
            "suppressed_by_pr": [str(key) for key in result.suppressed_by_head],
        },
        "trust": {"became_untrusted": [trust_artifact_json(r) for r in result.became_untrusted]},
    }
    return json.dumps(document, indent=2) + "\n"


def _rule_text(rule: IgnoreRule) -> str:
    scope = f" for {_cell(rule.package)}" if rule.package else " for every package"
    until = f", expires {rule.expires.isoformat()}" if rule.expires else ", no expiry"
    return (
        f"{escape.code(rule.id)}{scope}: {_cell(rule.reason or '(no reason)')} "
        f"({_cell(rule.issue or 'no tracking issue')}{until})"
    )


def _policy_lines(result: DiffResult) -> list[str]:
    changes = result.policy
    lines = [f"- ignore added: {_rule_text(r)}" for r in changes.ignores_added]
    lines += [
        f"- ignore loosened: {_rule_text(before)} → {_rule_text(after)}"
        for before, after in changes.ignores_loosened
    ]
    lines += [f"- ignore removed: {_rule_text(r)}" for r in changes.ignores_removed]
    lines += [f"- trust store changed: {escape.code(p)}" for p in changes.trust_store_changed]
    lines += [
        f"- lockfile no longer scanned (deleted, or moved out of discovery): {escape.code(p)}"
        for p in changes.lockfiles_removed
    ]
    lines += [
        f"- **suppressed by this PR — needs review**: {escape.code(str(key))} is still reported "
        "as new "
        "above; the gate judges with the base branch's policy"
        for key in result.suppressed_by_head
    ]
    return lines


def _verdict(result: DiffResult) -> str:
    """Derived from `result.fails`, the decision the exit code comes from."""
    if not result.fails:
        return "**Gate: passing** — no new finding at or above the threshold."
    reasons = []
    failing = sum(1 for f in result.new if f.fails)
    if failing:
        reasons.append(f"{failing} new finding(s) at or above the threshold")
    untrusted = len(result.became_untrusted)
    if untrusted:
        reasons.append(f"{untrusted} newly untrusted artifact(s)")
    return f"**Gate: failing** — {'; '.join(reasons)}."


def pr_comment(result: DiffResult) -> str:
    """The one comment a pull request gets; the marker finds it again on the next push."""
    db = result.database
    age = f"{db.age_days} days old" if db.age_days is not None else "age unknown"
    lines = [
        PR_COMMENT_MARKER,
        f"## triage: {len(result.new)} new advisory finding(s) in this pull request",
        "",
        _verdict(result),
        "",
        f"_merge-base `{result.base[:12]}` → head `{result.head[:12]}`; advisory data: "
        f"{db.records} records, newest modified {db.newest_modified or '-'} ({age})_",
    ]
    if result.new:
        lines += [
            "",
            "### New",
            "",
            "| advisory | package | version | severity | fixed in | lockfiles |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(f.finding.advisory)} | {_cell(f.finding.package)} | {_cell(_versions(f))} "
            f"| {f.finding.severity.label} | {_cell(_fixes(f))} | "
            f"{_cell(', '.join(f.finding.lockfiles))} |"
            for f in result.new
        ]
        lines += ["", "To accept one, record a reviewed ignore:", "", "```sh"]
        lines += [ignore_line(f) for f in result.new]
        lines.append("```")
    if result.fixed:
        lines += ["", "### Fixed by this pull request", ""]
        lines += [
            f"- {escape.code(str(f.finding.key))} ({_cell(_versions(f))})" for f in result.fixed
        ]
    if result.became_untrusted:
        lines += ["", "### Newly untrusted dependencies", ""]
        lines += [
            f"- {escape.code(r.evidence.filename)} ({_cell(r.evidence.package)} "
            f"{_cell(r.evidence.version)}): {r.verdict.value}: {_cell(r.reason)}"
            for r in result.became_untrusted
        ]
    policy_lines = _policy_lines(result)
    if policy_lines:
        lines += ["", "### Policy changes — flagged for review", "", *policy_lines]
    return "\n".join(lines) + "\n"


def diff_text(result: DiffResult) -> str:
    db = result.database
    age = f"{db.age_days} days old" if db.age_days is not None else "age unknown"
    lines = [
        f"merge-base {result.base[:12]} -> head {result.head[:12]}",
        f"advisory data: {db.records} records, newest modified {db.newest_modified or '-'} ({age})",
    ]
    for title, items in (("new", result.new), ("fixed", result.fixed)):
        lines += [
            f"{title:5}  {f.finding.key}  {f.finding.package} {_versions(f)}  "
            f"[{f.finding.severity.label}{', FAIL' if f.fails and title == 'new' else ''}]"
            for f in items
        ]
    lines.append(f"{len(result.unchanged)} unchanged finding(s)")
    lines += [
        f"untrusted  {r.evidence.filename}  ({r.evidence.package} {r.evidence.version}): {r.reason}"
        for r in result.became_untrusted
    ]
    policy_lines = _policy_lines(result)
    if policy_lines:
        lines += ["policy changes (review):", *policy_lines]
    lines.append(_verdict(result).replace("**", ""))
    return "\n".join(lines) + "\n"


DIFF_RENDERERS = {"text": diff_text, "json": diff_json, "markdown": pr_comment}


# --- tracking issues -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dependency:
    """How a package enters the project: directly, or through the packages in `via`."""

    direct: bool | None
    via: tuple[str, ...] = ()


def _first_fix(item: AssessedFinding) -> str | None:
    newest = max(
        (parse_version(v) for v in item.finding.versions),
        default=None,
        key=lambda v: v or Version("0"),
    )
    for candidate in item.finding.fixed_versions:
        parsed = parse_version(candidate)
        if parsed is not None and (newest is None or parsed > newest):
            return candidate
    return None


def suggested_response(item: AssessedFinding, dependency: Dependency) -> str:
    package = item.finding.package
    fix = _first_fix(item)
    via = ", ".join(dependency.via) or "another dependency"
    if dependency.direct is False:
        if fix:
            return (
                f"Transitive dependency (via {_cell(via)}): update what pulls it in, or pin "
                f"{escape.code(f'{package}>={fix}')} in your constraints."
            )
        return (
            f"Transitive dependency (via {_cell(via)}) with no fix released: wait for a fix "
            "(this issue tracks it), document an ignore with a reason and expiry if the "
            "vulnerable code is unreachable, or drop what pulls it in."
        )
    kind = "Direct dependency" if dependency.direct else "Dependency"
    if fix:
        return f"{kind}: update {escape.code(package)} to {_cell(fix)} or later."
    return (
        f"{kind} with no fix released: document an ignore with a reason and expiry if the "
        f"vulnerable code is unreachable, or block or replace {escape.code(package)}."
    )


def _dependency_kind(dependency: Dependency) -> str:
    if dependency.direct is None:
        return "not known"
    return "direct" if dependency.direct else "transitive"


def issue_title(item: AssessedFinding) -> str:
    return f"{item.finding.advisory}: {item.finding.package} {_versions(item)}"


def issue_body(item: AssessedFinding, dependency: Dependency) -> str:
    """The tracking issue's text; stable for the same facts, so an unchanged finding never
    causes a write."""
    from triage.core.tracking import KEY_MARKER  # the tracking rules: not needed by a scan

    finding = item.finding
    lines = [
        KEY_MARKER.format(key=finding.key),
        f"**{_cell(finding.advisory)}** affects **{_cell(finding.package)}** "
        f"{_cell(_versions(item))} (severity: {finding.severity.label}).",
        "",
        f"- Aliases: {_cell(', '.join(finding.aliases) or 'none')}",
        f"- Fixed in: {_cell(_fixes(item))}",
        f"- Lockfiles: {', '.join(escape.code(path) for path in finding.lockfiles)}",
        f"- Dependency: {_dependency_kind(dependency)}"
        + (f" (via {_cell(', '.join(dependency.via))})" if dependency.via else ""),
        "",
        f"**Suggested response:** {suggested_response(item, dependency)}",
        "",
        "To accept the risk instead, record a reviewed ignore:",
        "",
        "```sh",
        ignore_line(item),
        "```",
    ]
    if finding.references:
        lines += ["", "References:", *[f"- {_cell(url)}" for url in finding.references[:5]]]
    return "\n".join(lines)


# --- trust check ---------------------------------------------------------------------------

TRUST_SCHEMA = "triage/trust-v1"


def trust_artifact_json(result: TrustResult) -> dict[str, Any]:
    return {
        "package": result.evidence.package,
        "version": result.evidence.version,
        "filename": result.evidence.filename,
        "sha256": result.evidence.sha256,
        "verdict": result.verdict.value,
        "reason": result.reason,
        "fails": result.fails,
    }


def trust_json(results: Sequence[TrustResult], mode: str) -> str:
    document = {
        "schema": TRUST_SCHEMA,
        "mode": mode,
        "artifacts": [trust_artifact_json(r) for r in results],
    }
    return json.dumps(document, indent=2) + "\n"


def trust_text(results: Sequence[TrustResult], mode: str) -> str:
    lines = [f"trust mode: {mode}"]
    lines += [
        f"{'FAIL' if r.fails else 'ok  '}  {r.verdict.value:9}  {r.evidence.filename}  "
        f"({r.evidence.package} {r.evidence.version}): {r.reason}"
        for r in results
    ]
    counts = {
        v: sum(1 for r in results if r.verdict.value == v)
        for v in ("trusted", "untrusted", "unsigned")
    }
    lines.append(
        ", ".join(f"{n} {v}" for v, n in counts.items())
        + f"; {sum(1 for r in results if r.fails)} failing the policy"
    )
    return "\n".join(lines) + "\n"


def untrusted_issue_body(
    package: str, version: str, mode: str, results: Sequence[TrustResult]
) -> str:
    from triage.core.tracking import KEY_MARKER

    lines = [
        KEY_MARKER.format(key=f"untrusted/{package}=={version}"),
        f"**{_cell(package)} {_cell(version)}** fails the `{mode}` trust policy.",
        "",
        *[
            f"- {escape.code(r.evidence.filename)}: {r.verdict.value}: {_cell(r.reason)}"
            for r in results
        ],
        "",
        "**Suggested response:** find out who published it. If the publisher is legitimate, "
        "list it in `trust-store/publishers.toml` (certified mode) or review the release and "
        f"record it with `triage trust certify {package}=={version} --criteria safe-to-deploy "
        "--key NAME` (audit mode); otherwise pin a version that is trusted.",
    ]
    return "\n".join(lines)
