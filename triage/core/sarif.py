"""SARIF 2.1.0 for code scanning (SPEC §11): one rule per advisory group, one result per
finding located at the lockfile lines that pin it, the finding key as the partial
fingerprint (so a result keeps its identity when the lockfile moves or the version moves
within the advisory), ignored findings as suppressed results carrying the ledger's reason."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from triage.core.policy import malware_response
from triage.core.report import ignore_line
from triage.models import AssessedFinding, Finding, IndexNote, Level, Severity, Status

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "triageFindingKey/v1"
INFORMATION_URI = "https://osv.dev/vulnerability/"
# GitHub code scanning ranks security results by this CVSS-like score (its documented bands).
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.NONE: "0.0",
}

# (lockfile as shown, package, version) -> the line that pins it, where the reader knows it
PinLines = Mapping[tuple[str, str, str], int]


def _malware_rule(first: Finding) -> dict[str, Any]:
    """Malware's rule: removal, never an upgrade, and no ignore line to copy."""
    summary = first.summary or f"{first.package} is malware ({first.advisory})"
    what = malware_response(first.package)
    help_ = {
        "text": f"{summary}\n\nMalware: {what}.",
        "markdown": f"{summary}\n\n**Malware:** {what}.",
    }
    properties = {
        "kind": "malicious",
        "tags": ["security", "malware", *first.aliases],
        "precision": "very-high",
        "problem.severity": "error",
        "security-severity": "10.0",
    }
    return _descriptor(first, summary, help_=help_, properties=properties)


def _descriptor(
    first: Finding, summary: str, *, help_: dict[str, str], properties: dict[str, Any]
) -> dict[str, Any]:
    """A rule (SARIF reportingDescriptor) for the advisory group `first` stands for."""
    return {
        "id": first.advisory,
        "name": first.advisory,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "helpUri": next(iter(first.references), INFORMATION_URI + first.advisory),
        "help": help_,
        "properties": properties,
    }


def _rule(items: Sequence[AssessedFinding]) -> dict[str, Any]:
    first = items[0].finding
    if first.malicious:
        return _malware_rule(first)
    summary = first.summary or f"{first.advisory} affects {first.package}"
    fixes = [
        f"- {item.finding.package}: fixed in {', '.join(item.finding.fixed_versions)}"
        if item.finding.fixed_versions
        else f"- {item.finding.package}: no fixed version published"
        for item in items
    ]
    accept = [f"    {ignore_line(item)}" for item in items]
    help_text = "\n".join(
        [summary, "", "Upgrade to a fixed version:", *fixes, "", "Or accept it:", *accept]
    )
    markdown = "\n".join(
        [
            summary,
            "",
            "**Upgrade** to a fixed version:",
            *fixes,
            "",
            "**Or accept it** in deny.toml (a reason and a tracking issue are required):",
            "```",
            *(line.strip() for line in accept),
            "```",
        ]
    )
    severity = max((item.finding.severity for item in items), key=lambda s: s.value)
    properties: dict[str, Any] = {
        "kind": "vulnerability",
        "tags": ["security", "dependency", *first.aliases],
        "precision": "very-high",
    }
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    help_ = {"text": help_text, "markdown": markdown}
    return _descriptor(first, summary, help_=help_, properties=properties)


def _locations(item: AssessedFinding, lines: PinLines) -> list[dict[str, Any]]:
    finding = item.finding
    found = []
    for lockfile in finding.lockfiles:
        places = sorted(
            {
                lines[key]
                for v in finding.versions
                if (key := (lockfile, finding.package, v)) in lines
            }
        ) or [1]
        for line in places:
            found.append(
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": lockfile},
                        "region": {"startLine": line},
                    }
                }
            )
    return found


def _result(item: AssessedFinding, lines: PinLines, new: bool | None) -> dict[str, Any]:
    finding = item.finding
    versions = ", ".join(finding.versions)
    fixes = ", ".join(finding.fixed_versions) or "none published"
    if finding.malicious:
        text = f"{finding.package} {versions} is malware ({finding.advisory}): " + (
            f"{malware_response(finding.package)}."
        )
    else:
        text = (
            f"{finding.package} {versions} is affected by {finding.advisory} "
            f"(severity {finding.severity.label}); fixed in: {fixes}."
        )
    result: dict[str, Any] = {
        "ruleId": finding.advisory,
        # Malware is an error while it stands, whatever its policy level.
        "level": "error"
        if item.fails or (finding.malicious and item.status is not Status.IGNORED)
        else "warning"
        if item.status is not Status.IGNORED
        else "note",
        "message": {"text": text},
        "locations": _locations(item, lines),
        "partialFingerprints": {FINGERPRINT: str(finding.key)},
        "properties": {
            "status": item.status.value,
            "package": finding.package,
            "kind": "malicious" if finding.malicious else "vulnerability",
        },
    }
    if new is not None:
        result["properties"]["new"] = new
    if item.status is Status.IGNORED and item.ignore is not None:
        justification = item.ignore.reason or "ignored in deny.toml"
        if item.ignore.issue:
            justification += f" ({item.ignore.issue})"
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": justification}
        ]
    return result


def _note_rule(kind: str) -> dict[str, Any]:
    """A rule for what the index says (`index/yanked`, `index/quarantined`, ...)."""
    what = "a yanked file (PEP 592)" if kind == "yanked" else f"a {kind} project (PEP 792)"
    text = f"The package index marks {what}."
    return {
        "id": f"index/{kind}",
        "name": f"index/{kind}",
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": text},
        "properties": {"kind": kind, "tags": ["security", "dependency", "package-index"]},
    }


def _note_result(note: IndexNote, lines: PinLines) -> dict[str, Any]:
    places = sorted(
        (lockfile, line)
        for (lockfile, package, version), line in lines.items()
        if package == note.package and version == note.version
    ) or [("", 1)]
    why = f": {note.reason}" if note.reason else ""
    what = f"{note.detail} is yanked" if note.kind == "yanked" else f"the project is {note.kind}"
    return {
        "ruleId": f"index/{note.kind}",
        "level": "error" if note.level is Level.DENY else "warning",
        "message": {"text": f"{note.package} {note.version}: {what}{why}."},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": lockfile},
                    "region": {"startLine": line},
                }
            }
            for lockfile, line in places
            if lockfile
        ],
        "partialFingerprints": {
            FINGERPRINT: f"index/{note.kind}/{note.package}=={note.version}/{note.detail}"
        },
        "properties": {"package": note.package, "kind": note.kind, "new": True},
    }


def document(
    findings: Iterable[tuple[AssessedFinding, bool | None]],
    lines: PinLines,
    version: str,
    *,
    notes: Sequence[IndexNote] = (),
) -> str:
    """The SARIF log of `findings`, each with whether the pull request introduces it (None
    outside a diff), and of what the index says of what a pull request adds (`notes`)."""
    listed = sorted(findings, key=lambda pair: pair[0].finding.key)
    groups: dict[str, list[AssessedFinding]] = {}
    for item, _ in listed:
        groups.setdefault(item.finding.advisory, []).append(item)
    rules = [_rule(items) for _, items in sorted(groups.items())]
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = []
    for item, new in listed:
        result = _result(item, lines, new)
        result["ruleIndex"] = index[item.finding.advisory]
        results.append(result)
    for kind in sorted({note.kind for note in notes}):
        index[f"index/{kind}"] = len(rules)
        rules.append(_note_rule(kind))
    for note in notes:
        result = _note_result(note, lines)
        result["ruleIndex"] = index[result["ruleId"]]
        results.append(result)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "triage",
                        "version": version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
