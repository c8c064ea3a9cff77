"""Guided remediation's pure part: which releases of a package would fix it (the advisory data
says which versions are affected, the index which releases exist and which are yanked), what a
resolution moved, and the plan each finding gets. Resolving is uv's (service/fix); nothing
here guesses a version a resolver has not confirmed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from msgspec import Struct, field
from packaging.version import Version

from triage.core.matching import affects, parse_version
from triage.models import Affected, Package


class Strategy(StrEnum):
    IN_PLACE = "in-place"  # re-lock with only the planned package(s) allowed to move
    RELAX = "relax"  # widen the manifest's constraint that forbids every fix, then re-lock


class PlanState(StrEnum):
    READY = "ready"  # resolved by uv: --apply writes it
    APPLIED = "applied"  # written, and the re-scan agreed
    ROLLED_BACK = "rolled-back"  # written, and undone: the re-scan disagreed
    MANUAL = "manual"  # the lock's own tool must do it: the plan gives its command
    BLOCKED = "blocked"  # no fix can be applied: the reason says why


class Release(Struct, frozen=True):
    """One version of a project as its index page lists it."""

    version: str
    yanked: bool  # every file of it is yanked (PEP 592): never chosen
    hashes: tuple[str, ...]  # "sha256:<hex>" of each of its files, as requirements pin them


class Target(Struct, frozen=True):
    version: str
    major: bool  # a new major version: the plan says so


class Targets(Struct, frozen=True):
    fixing: tuple[Target, ...]  # lowest first
    yanked: tuple[str, ...]  # fixing releases passed over because they are yanked


_SHA256 = re.compile(r"[0-9a-f]{64}")


def releases_from_files(files: Mapping[str, tuple[str | None, bool]]) -> dict[str, Release]:
    """Releases from a project page's files (name -> (sha256, yanked)); a file whose name is
    neither a wheel's nor an sdist's names no version and is left out."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    by_version: dict[str, list[tuple[str | None, bool]]] = {}
    for filename, facts in files.items():
        try:
            if filename.endswith(".whl"):
                version = parse_wheel_filename(filename)[1]
            else:
                version = parse_sdist_filename(filename)[1]
        except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
            continue
        by_version.setdefault(str(version), []).append(facts)
    return {
        version: Release(
            version,
            yanked=all(yanked for _, yanked in listed),
            # Only what is a sha256 goes into a requirements file's --hash lines.
            hashes=tuple(sorted({f"sha256:{d}" for d, _ in listed if d and _SHA256.fullmatch(d)})),
        )
        for version, listed in by_version.items()
    }


def fixing_targets(
    current: str, releases: Mapping[str, Release], entries: Sequence[Affected]
) -> Targets:
    """The releases above `current` that no advisory of the package (`entries`: every one
    of its records, not only the finding's) affects, lowest first. Pre-releases only when
    `current` is one; yanked releases are set aside, never chosen."""
    now = parse_version(current)
    if now is None:
        return Targets((), ())
    fixing: list[tuple[Version, Target]] = []
    yanked: list[tuple[Version, str]] = []
    for text, release in releases.items():
        version = parse_version(text)
        if version is None or version <= now or (version.is_prerelease and not now.is_prerelease):
            continue
        if any(affects(entry, text, version) for entry in entries):
            continue
        if release.yanked:
            yanked.append((version, text))
            continue
        fixing.append((version, Target(text, major=version.major > now.major)))
    fixing.sort(key=lambda pair: pair[0])
    return Targets(tuple(t for _, t in fixing), tuple(t for _, t in sorted(yanked)))


class Move(Struct, frozen=True):
    """A package a resolution changed: `before` None is one it adds, `after` None one it
    drops."""

    package: str
    before: str | None
    after: str | None


def moves(before: Iterable[Package], after: Iterable[Package]) -> tuple[Move, ...]:
    """What changed between two readings of one lockfile, by package."""
    old = _versions(before)
    new = _versions(after)
    changed = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            changed.append(Move(name, _joined(old.get(name)), _joined(new.get(name))))
    return tuple(changed)


def _versions(packages: Iterable[Package]) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for package in packages:
        found.setdefault(package.name, set()).add(package.version)
    return {name: tuple(sorted(versions)) for name, versions in found.items()}


def _joined(versions: tuple[str, ...] | None) -> str | None:
    return None if versions is None else ", ".join(versions)


class Plan(Struct, frozen=True):
    """One fix: the package it moves and to what, how, and what it does to the findings."""

    lockfile: str
    package: str
    before: str
    state: PlanState
    reason: str  # one line: what was done or why not
    findings: tuple[str, ...]  # the finding keys it is for
    after: str | None = None
    strategy: Strategy = Strategy.IN_PLACE
    major: bool = False
    direct: bool | None = None
    removes: tuple[str, ...] = ()  # advisory groups the change removes
    brings: tuple[str, ...] = ()  # advisory groups it would bring (such a plan is never ready)
    moves: tuple[Move, ...] = ()  # every package it changes, the planned one included
    parent: str | None = None  # a transitive fix that needs its parent moved: which, to what
    command: str | None = None  # for MANUAL: what to run with the lock's own tool
    skipped: tuple[str, ...] = field(default=())  # fixing releases passed over (yanked...)

    @property
    def others(self) -> tuple[Move, ...]:
        return tuple(m for m in self.moves if m.package != self.package)


class PullNote(Struct, frozen=True):
    """What --pr did for one group."""

    group: str
    action: str  # created, updated, unchanged; or not-opened (the reason says why)
    number: int | None
    url: str | None
    superseded: tuple[int, ...] = ()
    reason: str = ""


class FixReport(Struct, frozen=True):
    plans: tuple[Plan, ...]
    findings: int  # active findings asked about
    applied: bool
    rescan: str | None  # the re-scan's verdict after --apply
    not_checked: str | None  # why the index was not asked (--offline, the first failure)
    pulls: tuple[PullNote, ...] = ()

    @property
    def fixed(self) -> int:
        """Findings every plan of which is applied (ready, without --apply): one locked in two
        files is fixed when both are."""
        wanted = {PlanState.APPLIED} if self.applied else {PlanState.READY}
        keys = {k for p in self.plans for k in p.findings}
        return sum(all(p.state in wanted for p in self.plans if k in p.findings) for k in keys)

    @property
    def complete(self) -> bool:
        """Every finding asked about has a plan that is (or can be) applied."""
        return self.fixed == self.findings
