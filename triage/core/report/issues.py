"""What tracking issues say: title, body, the suggested response."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct
from packaging.version import Version

from triage.core import escape
from triage.core.matching import parse_version
from triage.core.policy import malware_response
from triage.core.report.scan import _cell, _fixes, _versions, ignore_line
from triage.models import AssessedFinding, IndexNote, LicenseResult, TrustResult


class Dependency(Struct, frozen=True):
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
    if item.finding.malicious:
        return f"Malware: {item.finding.package} {_versions(item)} ({item.finding.advisory})"
    return f"{item.finding.advisory}: {item.finding.package} {_versions(item)}"


def issue_body(item: AssessedFinding, dependency: Dependency) -> str:
    """The tracking issue's text; stable for the same facts, so an unchanged finding never
    causes a write."""
    from triage.core.tracking import KEY_MARKER  # the tracking rules: not needed by a scan

    finding = item.finding
    if finding.malicious:
        return _malware_body(item, dependency)
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


def _malware_body(item: AssessedFinding, dependency: Dependency) -> str:
    """Malware's issue: what to do first, then the facts; never an upgrade, and no ignore
    line (accepting malware takes `triage ignore --malware`, flagged by `policy check`)."""
    from triage.core.tracking import KEY_MARKER

    finding = item.finding
    lines = [
        KEY_MARKER.format(key=finding.key),
        f"**Malware: {_cell(malware_response(finding.package)).capitalize()}.**",
        "",
        f"**{_cell(finding.advisory)}** reports **{_cell(finding.package)}** "
        f"{_cell(_versions(item))} as malicious (severity: critical).",
        "",
        f"- Aliases: {_cell(', '.join(finding.aliases) or 'none')}",
        f"- Lockfiles: {', '.join(escape.code(path) for path in finding.lockfiles)}",
        f"- Dependency: {_dependency_kind(dependency)}"
        + (f" (via {_cell(', '.join(dependency.via))})" if dependency.via else ""),
    ]
    if finding.references:
        lines += ["", "References:", *[f"- {_cell(url)}" for url in finding.references[:5]]]
    return "\n".join(lines)


def index_issue_body(name: str, notes: Sequence[IndexNote]) -> str:
    """What the package index says of a locked project that the policy denies."""
    from triage.core.tracking import KEY_MARKER

    lines = [
        KEY_MARKER.format(key=f"index/{name}"),
        f"The package index's word on **{_cell(name)}** fails the policy:",
        "",
        *[
            f"- {_cell(n.version)}: "
            + (f"file {escape.code(n.detail)} is yanked" if n.kind == "yanked" else n.kind)
            + (f" ({_cell(n.reason)})" if n.reason else "")
            for n in notes
        ],
        "",
        "**Suggested response:** move off it: pin another release (yanked), or replace the "
        "project (quarantined, archived or deprecated); `[advisories] yanked` and "
        "`[advisories.project-status]` set these levels.",
    ]
    return "\n".join(lines)


def untrusted_issue_body(
    package: str, version: str, mode: str, *, results: Sequence[TrustResult]
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


def license_issue_body(name: str, results: Sequence[LicenseResult]) -> str:
    from triage.core.tracking import KEY_MARKER

    lines = [
        KEY_MARKER.format(key=f"license/{name}"),
        f"**{_cell(name)}** is locked under a license the `[licenses]` policy does not allow.",
        "",
        *[
            f"- {_cell(r.version)}: "
            f"{_cell(r.info.expression or r.info.raw or 'none') if r.info else 'not judged'} "
            f"({r.verdict.value}): {_cell(r.why)}"
            for r in results
        ],
        "",
        "**Suggested response:** replace the dependency, pin a version under an allowed "
        "license, or, after legal review, allow the license for this package only with a "
        f'`[[licenses.exceptions]]` entry (`name = "{name}"`) in deny.toml.',
    ]
    return "\n".join(lines)
