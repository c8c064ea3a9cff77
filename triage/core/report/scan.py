"""Scan reports: text, JSON (triage/scan-v1), markdown; and the line that accepts a finding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triage.core import escape
from triage.core.policy import finding_kind, malware_response, shortlist
from triage.models import AssessedFinding, Format, IgnoreRule, ScanResult, Schema, Unpinned

if TYPE_CHECKING:
    from triage.models import IndexNote


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
        "kind": finding_kind(finding),
        "advisory": finding.advisory,
        "aliases": list(finding.aliases),
        "package": finding.package,
        "version": finding.versions[0],
        "lockfiles": list(finding.lockfiles),
        "fixed_versions": list(finding.fixed_versions),
        "severity": finding.severity.label,
        "status": item.status.value,
        "ignore": ignore_json(item.ignore),
        "response": malware_response(finding.package) if finding.malicious else None,
    }


def unpinned_json(item: Unpinned) -> dict[str, Any]:
    return {
        "package": item.name,
        "lockfile": item.lockfile,
        "location": item.location,
        "reason": item.reason,
        "possibly_affected": list(item.possibly_affected),
    }


def unpinned_markdown(item: Unpinned) -> str:
    """One unpinned requirement as a markdown list item."""
    affected = (
        f"; possibly affected: {_cell(shortlist(item.possibly_affected))}"
        if item.possibly_affected
        else ""
    )
    return (
        f"- {escape.code(item.lockfile)} {_cell(item.location)}: {_cell(item.name)} — "
        f"{_cell(item.reason)}{affected}"
    )


def scan_json(result: ScanResult) -> str:
    db = result.database
    document = {
        "schema": Schema.SCAN,
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
        "index": [note_json(n) for n in result.index_notes],
        "index_checked": result.index_checked.isoformat() if result.index_checked else None,
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


def note_text(note: IndexNote) -> str:
    why = f": {note.reason}" if note.reason else ""
    what = f"file {note.detail} yanked" if note.kind == "yanked" else f"project {note.kind}"
    return f"{note.package} {note.version}: {what}{why}"


def note_json(note: IndexNote) -> dict[str, Any]:
    """What the index says of a release, as diff and scan write it: `detail` is the yanked
    file's name, or the project's status."""
    return {
        "package": note.package,
        "version": note.version,
        "kind": note.kind,
        "detail": note.detail,
        "reason": note.reason,
        "level": note.level.value,
    }


def _index_lines(result: ScanResult) -> list[str]:
    """What the last audit found the index saying (a scan asks nothing), and when."""
    if not result.index_notes:
        return []
    when = result.index_checked.date().isoformat() if result.index_checked else "unknown"
    return [
        f"{n.level.value}[{n.kind}]: {note_text(n)} (the index, as the audit of {when} read it)"
        for n in result.index_notes
    ]


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
    if item.finding.malicious:
        return "none: remove it (malware)"
    return ", ".join(item.finding.fixed_versions) or "no fix yet"


def _summary(result: ScanResult) -> str:
    failing = sum(1 for f in result.findings if f.fails)
    malware = sum(1 for f in result.findings if f.finding.malicious)
    return (
        f"{len(result.findings)} finding(s)"
        + (f" ({malware} malicious)" if malware else "")
        + f", {failing} failing the policy; "
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
        kind = "MALWARE, " if finding.malicious else ""
        lines.append(
            f"{mark}  {finding.key}  {finding.package} {_versions(item)}  "
            f"[{kind}{finding.severity.label}, {item.status.value}]"
        )
        if finding.aliases:
            lines.append(f"      aliases: {', '.join(finding.aliases)}")
        if finding.malicious:
            lines.append(f"      malware: {malware_response(finding.package)}")
            lines.append(f"      lockfiles: {', '.join(finding.lockfiles)}")
        else:
            lines.append(
                f"      fixed in: {_fixes(item)};  lockfiles: {', '.join(finding.lockfiles)}"
            )
        if item.ignore is not None:
            until = item.ignore.expires.isoformat() if item.ignore.expires else "no expiry"
            lines.append(f"      ignore: {item.ignore.reason or '(no reason)'} ({until})")
    if result.unpinned:
        lines.append("")
        lines.extend(
            f"unpinned  {u.lockfile}:{u.location}  {u.name}: {u.reason}"
            + (
                f"; possibly affected: {shortlist(u.possibly_affected)}"
                if u.possibly_affected
                else ""
            )
            for u in result.unpinned
        )
    if result.diagnostics:
        lines.append("")
        lines.extend(f"{d.level.value}[{d.code}]: {d.message}" for d in result.diagnostics)
    if result.index_notes:
        lines += ["", *_index_lines(result)]
    lines.extend(["", _summary(result)])
    return "\n".join(lines) + "\n"


_cell = escape.text


def scan_markdown(result: ScanResult) -> str:
    lines = ["## triage scan", "", f"_{_data_line(result)}_", ""]
    if result.findings:
        lines += [
            "| advisory | kind | package | version | severity | status | fixed in |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(f.finding.advisory)} | {finding_kind(f.finding)} "
            f"| {_cell(f.finding.package)} | {_cell(_versions(f))} "
            f"| {f.finding.severity.label} | {f.status.value} | {_cell(_fixes(f))} |"
            for f in result.findings
        ]
    else:
        lines.append("No known advisories affect the locked dependencies.")
    if result.unpinned:
        lines += ["", "**Unpinned** (not matched):", ""]
        lines += [unpinned_markdown(u) for u in result.unpinned]
    if result.diagnostics:
        lines += ["", "**Policy:**", ""]
        lines += [f"- {d.level.value} `{d.code}`: {_cell(d.message)}" for d in result.diagnostics]
    if result.index_notes:
        lines += ["", "**The package index** (as the last audit read it):", ""]
        lines += [f"- {_cell(line)}" for line in _index_lines(result)]
    lines += ["", _summary(result)]
    return "\n".join(lines) + "\n"


RENDERERS: dict[Format, Callable[[ScanResult], str]] = {
    Format.TEXT: scan_text,
    Format.JSON: scan_json,
    Format.MARKDOWN: scan_markdown,
}


def ignore_line(item: AssessedFinding) -> str:
    """The exact command that accepts a finding (the reason and issue are the reviewer's);
    `--package` keeps the ignore to this finding's package, not every package the advisory
    names. The key is safe inside a code block: ids are validated at sync."""
    return (
        f'triage ignore {item.finding.key} --reason "<why this is acceptable>" '
        "--issue <tracking issue URL> --package"
    )
