"""The diff report and the pull request's one comment (triage/diff-v1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from triage.core import escape
from triage.core.policy import malware_response, shortlist
from triage.core.report.scan import (
    _cell,
    _fixes,
    _versions,
    finding_json,
    ignore_json,
    ignore_line,
    note_json,
    note_text,
    unpinned_json,
    unpinned_markdown,
)
from triage.core.report.trust import trust_artifact_json
from triage.models import Format, IgnoreRule, Level, Schema

if TYPE_CHECKING:
    from triage.core.diffing import DiffResult
    from triage.models import LicenseChange

PR_COMMENT_MARKER = "<!-- triage:pr-comment -->"


def diff_json(result: DiffResult) -> str:
    changes = result.policy
    document = {
        "schema": Schema.DIFF,
        "base": result.base,
        "head": result.head,
        "new": [finding_json(f) for f in result.new],
        "fixed": [finding_json(f) for f in result.fixed],
        "unchanged": [finding_json(f) for f in result.unchanged],
        "unpinned_added": [unpinned_json(u) for u in result.unpinned_added],
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
            "licenses_changed": list(changes.licenses_changed),
            "suppressed_by_pr": [str(key) for key in result.suppressed_by_head],
        },
        "trust": {"became_untrusted": [trust_artifact_json(r) for r in result.became_untrusted]},
        "licenses": [
            {
                "package": c.result.name,
                "version": c.result.version,
                "expression": c.result.info.expression if c.result.info else None,
                "previous": list(c.previous),
                "new_package": c.new_package,
                "verdict": c.result.verdict.value,
                "level": c.result.level.value,
                "why": c.result.why,
            }
            for c in result.license_changes
        ],
        "index": [note_json(n) for n in result.index_notes],
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
    lines += [f"- {_cell(change)}" for change in changes.licenses_changed]
    lines += [
        f"- **suppressed by this PR — needs review**: {escape.code(str(key))} is still reported "
        "as new "
        "above; the gate judges with the base branch's policy"
        for key in result.suppressed_by_head
    ]
    return lines


def _license(change: LicenseChange) -> str:
    info = change.result.info
    if info is None:
        return "not judged"
    if info.expression:
        return info.expression
    return f"unknown ({info.raw})" if info.raw else "none"


def _unpinned_level(result: DiffResult) -> str:
    """What the base's `[advisories] unpinned` made of the requirements the PR adds."""
    levels = {d.level for d in result.unpinned_diagnostics}
    for level in (Level.DENY, Level.WARN):
        if level in levels:
            return "fails the gate" if level is Level.DENY else "a warning"
    return "allowed by the base's policy"


def _verdict(result: DiffResult) -> str:
    """Derived from `result.fails`, the decision the exit code comes from."""
    if not result.fails:
        return "**Gate: passing** — no new finding at or above the threshold."
    reasons = []
    malware = sum(1 for f in result.new if f.fails and f.finding.malicious)
    if malware:
        reasons.append(f"{malware} new malicious package(s)")
    failing = sum(1 for f in result.new if f.fails and not f.finding.malicious)
    if failing:
        reasons.append(f"{failing} new finding(s) at or above the threshold")
    untrusted = len(result.became_untrusted)
    if untrusted:
        reasons.append(f"{untrusted} newly untrusted artifact(s)")
    denied = sum(1 for c in result.license_changes if c.result.level is Level.DENY)
    if denied:
        reasons.append(f"{denied} license(s) the base policy does not allow")
    denied_notes = sum(1 for n in result.index_notes if n.level is Level.DENY)
    if denied_notes:
        reasons.append(f"{denied_notes} release(s) the index has yanked or quarantined")
    unpinned = sum(1 for d in result.unpinned_diagnostics if d.level is Level.DENY)
    if unpinned:
        reasons.append(f"{unpinned} new requirement(s) not pinned to one version")
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
    malware = [f for f in result.new if f.finding.malicious]
    if malware:
        lines += ["", "### Malware this pull request brings", ""]
        lines += [
            f"- **{_cell(f.finding.package)} {_cell(_versions(f))}** "
            f"({escape.code(f.finding.advisory)}): {_cell(malware_response(f.finding.package))}"
            for f in malware
        ]
    vulnerable = [f for f in result.new if not f.finding.malicious]
    if vulnerable:
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
            for f in vulnerable
        ]
        lines += ["", "To accept one, record a reviewed ignore:", "", "```sh"]
        lines += [ignore_line(f) for f in vulnerable]
        lines.append("```")
        keys = " ".join(str(f.finding.key) for f in vulnerable)  # ids are checked at sync
        lines += [
            "",
            "Suggested response: the smallest upgrade that removes them without bringing another "
            "advisory, resolved by uv (`--apply` writes it, `--pr` proposes it):",
            "",
            "```sh",
            f"triage fix {keys}",
            "```",
        ]
    if result.fixed:
        lines += ["", "### Fixed by this pull request", ""]
        lines += [
            f"- {escape.code(str(f.finding.key))} ({_cell(_versions(f))})" for f in result.fixed
        ]
    if result.unpinned_added:
        lines += [
            "",
            "### Requirements this pull request adds without one version "
            f"(`unpinned`: {_unpinned_level(result)})",
            "",
        ]
        lines += [unpinned_markdown(u) for u in result.unpinned_added]
    if result.index_notes:
        lines += ["", "### Yanked files and project status (from the package index)", ""]
        lines += [
            f"- {_cell(note_text(n))} ({n.level.value}{', fails' if n.level is Level.DENY else ''})"
            for n in result.index_notes
        ]
    if result.became_untrusted:
        lines += ["", "### Newly untrusted dependencies", ""]
        lines += [
            f"- {escape.code(r.evidence.filename)} ({_cell(r.evidence.package)} "
            f"{_cell(r.evidence.version)}): {r.verdict.value}: {_cell(r.reason)}"
            for r in result.became_untrusted
        ]
    if result.license_changes:
        lines += [
            "",
            "### Licenses this pull request brings (judged by the base's policy)",
            "",
            "| package | version | license | before | verdict |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(c.result.name)} | {_cell(c.result.version)} | {_cell(_license(c))} "
            f"| {_cell(', '.join(c.previous) or 'new package')} | {c.result.verdict.value}"
            f"{' (fails)' if c.result.level is Level.DENY else ''} |"
            for c in result.license_changes
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
            f"[{'MALWARE, ' if f.finding.malicious else ''}{f.finding.severity.label}"
            f"{', FAIL' if f.fails and title == 'new' else ''}]"
            for f in items
        ]
    lines.append(f"{len(result.unchanged)} unchanged finding(s)")
    lines += [
        f"unpinned  {u.lockfile}:{u.location}  {u.name}: {u.reason}"
        + (f"; possibly affected: {shortlist(u.possibly_affected)}" if u.possibly_affected else "")
        for u in result.unpinned_added
    ]
    lines += [f"{d.level.value}[{d.code}]: {d.message}" for d in result.unpinned_diagnostics]
    lines += [f"{n.level.value}[{n.kind}]: {note_text(n)}" for n in result.index_notes]
    lines += [
        f"untrusted  {r.evidence.filename}  ({r.evidence.package} {r.evidence.version}): {r.reason}"
        for r in result.became_untrusted
    ]
    lines += [
        f"license  {c.result.name} {c.result.version}  {_license(c)}  "
        f"(before: {', '.join(c.previous) or 'new package'})  [{c.result.verdict.value}"
        f"{', FAIL' if c.result.level is Level.DENY else ''}]"
        for c in result.license_changes
    ]
    policy_lines = _policy_lines(result)
    if policy_lines:
        lines += ["policy changes (review):", *policy_lines]
    lines.append(_verdict(result).replace("**", ""))
    return "\n".join(lines) + "\n"


DIFF_RENDERERS: dict[Format, Callable[[DiffResult], str]] = {
    Format.TEXT: diff_text,
    Format.JSON: diff_json,
    Format.MARKDOWN: pr_comment,
}
