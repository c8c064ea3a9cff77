"""What each tracking issue is about, derived from findings, lockfiles and trust verdicts:
direct or transitive dependencies, the issue wanted per finding, per untrusted package and
per package whose license the policy denies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from triage.core import report, tracking
from triage.models import (
    AssessedFinding,
    IndexNote,
    Level,
    LicenseResult,
    Package,
    Status,
    TrustResult,
)

MALWARE_LABEL = "malware"
Judged = TypeVar("Judged")


def dependencies(packages: Sequence[Package], direct: set[str]) -> dict[str, report.Dependency]:
    """Per package: direct when pyproject.toml or the lockfile says so, transitive when the
    lockfile says so, else not known; with everything that pulls it in."""
    merged: dict[str, report.Dependency] = {}
    for package in packages:
        before = merged.get(package.name, report.Dependency(None))
        says = True if package.name in direct else package.direct
        known = [v for v in (before.direct, says) if v is not None]
        merged[package.name] = report.Dependency(
            any(known) if known else None,
            tuple(sorted(set(before.via) | set(package.via))),
        )
    return merged


def tracked_finding(
    item: AssessedFinding, dependencies: dict[str, report.Dependency]
) -> tracking.Tracked:
    dependency = dependencies.get(item.finding.package, report.Dependency(None))
    return tracking.Tracked(
        key=str(item.finding.key),
        status=item.status,
        ignore=item.ignore,
        title=report.issue_title(item),
        body=report.issue_body(item, dependency),
        recorded=tracking.Recorded(item.finding.severity.label, item.finding.fixed_versions),
        labels=(MALWARE_LABEL,) if item.finding.malicious else (),
    )


def untrusted(results: Sequence[TrustResult], mode: str) -> list[tracking.Tracked]:
    """One tracked item per package version with an artifact that fails the trust policy."""
    failing: dict[tuple[str, str], list[TrustResult]] = {}
    for item in results:
        if item.fails:
            failing.setdefault((item.evidence.package, item.evidence.version), []).append(item)
    return [
        _standing(
            f"untrusted/{package}=={version}",
            f"Untrusted dependency: {package} {version}",
            report.untrusted_issue_body(package, version, mode, results=items),
            kind="untrusted",
        )
        for (package, version), items in sorted(failing.items())
    ]


def disallowed_licenses(results: Sequence[LicenseResult]) -> list[tracking.Tracked]:
    """One tracked item per package whose locked license the policy denies (`license/<name>`:
    a version bump under the same verdict keeps the same issue)."""
    return [
        _standing(
            f"license/{name}",
            f"License not allowed: {name}",
            report.license_issue_body(name, items),
            kind="license",
        )
        for name, items in _denied_by_name(results, lambda r: (r.name, r.level))
    ]


def denied_by_index(notes: Sequence[IndexNote]) -> list[tracking.Tracked]:
    """One tracked item per project the policy denies for what its index says (quarantined,
    a yanked file set to deny): `index/<name>`, so a new version under the same verdict keeps
    the same issue."""
    return [
        _standing(
            f"index/{name}",
            f"{', '.join(sorted({n.kind for n in items})).capitalize()}: {name}",
            report.index_issue_body(name, items),
            kind="index",
        )
        for name, items in _denied_by_name(notes, lambda n: (n.package, n.level))
    ]


def _denied_by_name(
    items: Sequence[Judged], judged: Callable[[Judged], tuple[str, Level]]
) -> list[tuple[str, list[Judged]]]:
    """The items whose level is deny, by package name, in name order."""
    by_name: dict[str, list[Judged]] = {}
    for item in items:
        name, level = judged(item)
        if level is Level.DENY:
            by_name.setdefault(name, []).append(item)
    return sorted(by_name.items())


def _standing(key: str, title: str, body: str, *, kind: str) -> tracking.Tracked:
    """A problem that stands while it lasts (no ignore, no fix versions to follow)."""
    return tracking.Tracked(
        key=key,
        status=Status.ACTIVE,
        ignore=None,
        title=title,
        body=body,
        recorded=tracking.Recorded(kind, ()),
    )
