"""OSV matching for PyPI (SPEC §4): versions + ECOSYSTEM ranges, alias groups, finding keys."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from msgspec import Struct
from msgspec.structs import replace
from packaging.version import InvalidVersion, Version

from triage.models import (
    Advisory,
    Affected,
    AliasGroup,
    Finding,
    FindingKey,
    Package,
    Severity,
    Unpinned,
    VersionRange,
    is_malware_id,
)

# OSV writes "introduced: 0" for "since the first release"; it sorts before every version.
ZERO = "0"


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """A PEP 440 version, or None (for a release number too long for an int too: packaging
    raises a plain ValueError there)."""
    try:
        return Version(text)
    except (InvalidVersion, ValueError):
        return None


_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """PEP 503's normal form, as packaging's canonicalize_name gives it (which is not imported:
    packaging.utils brings packaging.tags, logging and platform, ~7 ms a command never needs)."""
    return _SEPARATORS.sub("-", name).lower()


_LOWEST = Version("0")


def version_order(text: str) -> tuple[int, Version]:
    """Sort key for version strings: "0" and unparseable text first, then PEP 440 order."""
    parsed = None if text == ZERO else parse_version(text)
    return (0, _LOWEST) if parsed is None else (1, parsed)


@lru_cache(maxsize=65536)
def sorted_events(vrange: VersionRange) -> tuple[tuple[str, Version | None], ...]:
    """Events ordered by version, introduced "0" first (as None). An event whose version is
    not PEP 440 cannot be placed in the order and is left out (sync warned about it)."""
    placed: list[tuple[str, Version | None]] = []
    for event in vrange.events:
        if event.kind == "limit":
            continue
        if event.kind == "introduced" and event.version == ZERO:
            placed.append((event.kind, None))
        elif (parsed := parse_version(event.version)) is not None:
            placed.append((event.kind, parsed))
    placed.sort(key=lambda kv: (0, _LOWEST) if kv[1] is None else (1, kv[1]))
    return tuple(placed)  # cached: a record's ranges are walked for every version matched


def in_range(version: Version, vrange: VersionRange) -> bool:
    """OSV's evaluation: walk the sorted events; the last one at or below the version decides."""
    limits = [parse_version(e.version) for e in vrange.events if e.kind == "limit"]
    if limits and not any(limit is not None and version < limit for limit in limits):
        return False
    affected = False
    for kind, bound in sorted_events(vrange):
        if kind == "introduced":
            if bound is None or version >= bound:
                affected = True
        elif kind == "fixed":
            if bound is not None and version >= bound:
                affected = False
        elif kind == "last_affected" and bound is not None and version > bound:
            affected = False
    return affected


@lru_cache(maxsize=8192)
def _listed(versions: tuple[str, ...]) -> tuple[frozenset[Version], frozenset[str]]:
    """Enumerated versions: the PEP 440 ones parsed, the rest kept as text."""
    parsed = {v: parse_version(v) for v in versions}
    return (
        frozenset(p for p in parsed.values() if p is not None),
        frozenset(v for v, p in parsed.items() if p is None),
    )


def affects(affected: Affected, version_text: str, version: Version) -> bool:
    """A version is affected when it is enumerated or lies in any ECOSYSTEM range."""
    parsed, unparsed = _listed(affected.versions)
    if version in parsed or version_text in unparsed:
        return True
    return any(in_range(version, r) for r in affected.ranges)


def fixed_versions(affected: Iterable[Affected]) -> tuple[str, ...]:
    found = {e.version for a in affected for r in a.ranges for e in r.events if e.kind == "fixed"}
    return _in_version_order(found)


def _in_version_order(texts: set[str]) -> tuple[str, ...]:
    return tuple(texts) if len(texts) < 2 else tuple(sorted(texts, key=version_order))


# --- alias groups ---------------------------------------------------------------------------


class DisjointSet:
    """Union-find with path compression and union by size."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._size: dict[str, int] = {}

    def add(self, item: str) -> None:
        if item not in self._parent:
            self._parent[item] = item
            self._size[item] = 1

    def find(self, item: str) -> str:
        self.add(item)
        root = item
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[item] != root:
            self._parent[item], item = root, self._parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        if self._size[root_a] < self._size[root_b]:
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] += self._size[root_b]

    def groups(self) -> list[list[str]]:
        members: dict[str, list[str]] = defaultdict(list)
        for item in self._parent:
            members[self.find(item)].append(item)
        return list(members.values())


_KIND_RANK = {"PYSEC": 0, "GHSA": 1, "CVE": 2}
_YEAR_NUMBER = re.compile(r"^[A-Za-z]+-(\d+)-(\d+)$")


def preference_key(advisory_id: str) -> tuple[int, int, int, str]:
    """PYSEC before GHSA before CVE before anything else; then smallest (year, number)."""
    rank = _KIND_RANK.get(advisory_id.split("-", 1)[0].upper(), len(_KIND_RANK))
    numbered = _YEAR_NUMBER.match(advisory_id)
    if numbered:
        return (rank, int(numbered.group(1)), int(numbered.group(2)), advisory_id)
    return (rank, 0, 0, advisory_id)


def alias_groups(advisories: Iterable[Advisory]) -> dict[str, AliasGroup]:
    """Map every id (records and their aliases) to its group. Withdrawn records join nothing."""
    sets = DisjointSet()
    for advisory in advisories:
        if advisory.withdrawn:
            continue
        sets.add(advisory.id)
        for alias in advisory.aliases:
            sets.union(advisory.id, alias)
    result: dict[str, AliasGroup] = {}
    for members in sets.groups():
        ordered = tuple(sorted(members))
        group = AliasGroup(preferred=min(members, key=preference_key), ids=ordered)
        for member in members:
            result[member] = group
    return result


# --- matching -------------------------------------------------------------------------------


class MatchResult(Struct, frozen=True):
    findings: tuple[Finding, ...]
    unmatchable: tuple[Unpinned, ...]  # versions that are not PEP 440: matched only exactly
    warnings: tuple[str, ...] = ()  # derived state that disagreed with the records, re-derived


def _worst(severities: Iterable[Severity]) -> Severity:
    known = [s for s in severities if s is not Severity.UNKNOWN]
    return max(known, key=lambda s: s.value) if known else Severity.UNKNOWN


def _live_entries(advisories: Sequence[Advisory]) -> dict[str, list[tuple[Advisory, Affected]]]:
    """Affected entries by package, of records not withdrawn (those never match)."""
    by_package: dict[str, list[tuple[Advisory, Affected]]] = defaultdict(list)
    for advisory in advisories:
        if advisory.withdrawn:
            continue
        for entry in advisory.affected:
            by_package[entry.package].append((advisory, entry))
    return by_package


def match(
    packages: Sequence[Package],
    advisories: Sequence[Advisory],
    groups: Mapping[str, AliasGroup],
    *,
    named: Sequence[Mapping[str, tuple[str, ...] | None] | None] | None = None,
) -> MatchResult:
    """Findings of `packages`. `named`, when given, holds per package what the match index
    says of it (None: nothing): the records affecting its version, each with the fixed
    versions of the one entry that does, or None when several do; those are evaluated, and
    no record it does not name."""
    by_package = _live_entries(advisories)
    live = {a.id: a for a in advisories if not a.withdrawn}

    def key_of(advisory: Advisory, package: Package) -> FindingKey:
        group = groups.get(advisory.id) or AliasGroup(advisory.id, (advisory.id,))
        return FindingKey(group.preferred, package.name)

    hits: dict[FindingKey, list[tuple[Package, Advisory, tuple[str, ...]]]] = defaultdict(list)
    unmatchable: list[Unpinned] = []
    for position, package in enumerate(packages):
        candidates = by_package.get(package.name)
        only = named[position] if named is not None else None
        if only is not None:
            # The index decided these: their one affecting entry need not be read.
            for advisory_id, fixed in only.items():
                if fixed is not None and advisory_id in live:
                    advisory = live[advisory_id]
                    hits[key_of(advisory, package)].append((package, advisory, fixed))
            candidates = [(a, e) for a, e in candidates or () if only.get(a.id, ()) is None]
        version = parse_version(package.version)
        if version is None:
            unmatchable.append(
                Unpinned(
                    name=package.name,
                    lockfile=package.lockfile,
                    location=package.location,
                    reason=f"version {package.version!r} is not a PEP 440 version: matched "
                    "only against the versions advisories list, not their ranges",
                    # Which release it means cannot be placed in a range: every advisory of
                    # the name may apply, so none passes in silence.
                    specifier="",
                )
            )
        if not candidates:
            continue
        for advisory, entry in candidates:
            if (
                package.version in entry.versions
                if version is None
                else affects(entry, package.version, version)
            ):
                hits[key_of(advisory, package)].append(
                    (package, advisory, fixed_versions((entry,)))
                )

    findings = []
    facts = _RunFacts()
    for key, matched in sorted(hits.items()):
        group = groups.get(matched[0][1].id) or AliasGroup(key.advisory, (key.advisory,))
        records = {a.id: a for _, a, _ in matched}
        malicious = facts.group_malware(group) or any(
            facts.record_malware(a) for a in records.values()
        )
        record_ids: tuple[str, ...]
        if len(records) == 1:
            (only_record,) = records.values()
            severity, record_ids = only_record.severity, (only_record.id,)
            references = tuple(dict.fromkeys(only_record.references))
        else:
            severity, record_ids = (
                _worst(a.severity for a in records.values()),
                tuple(sorted(records)),
            )
            references = tuple(dict.fromkeys(u for a in records.values() for u in a.references))
        findings.append(
            Finding(
                key=key,
                aliases=facts.aliases(group),
                versions=_in_version_order({p.version for p, _, _ in matched}),
                lockfiles=tuple(sorted({p.lockfile for p, _, _ in matched})),
                # Malware is removed, never upgraded: no version of it is a fix.
                fixed_versions=()
                if malicious
                else _in_version_order({v for _, _, fixed in matched for v in fixed}),
                severity=Severity.CRITICAL if malicious else severity,
                record_ids=record_ids,
                references=references,
                summary=_summary(key.advisory, records),
                malicious=malicious,
            )
        )
    findings.sort(key=lambda f: not f.malicious)  # malware first; stable: by key within each
    return MatchResult(tuple(findings), tuple(unmatchable))


class _RunFacts:
    """What a run works out once per alias group and record rather than once per finding (a
    group is shared by every package it affects): a group's aliases, and malware, which is a
    record that says so in its data, or any id of the group, a record or a record's alias
    that is a MAL- id."""

    def __init__(self) -> None:
        self._aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._groups: dict[tuple[str, ...], bool] = {}
        self._records: dict[str, bool] = {}

    def aliases(self, group: AliasGroup) -> tuple[str, ...]:
        found = self._aliases.get(group.ids)
        if found is None:
            found = self._aliases[group.ids] = group.aliases
        return found

    def group_malware(self, group: AliasGroup) -> bool:
        found = self._groups.get(group.ids)
        if found is None:
            found = self._groups[group.ids] = any(is_malware_id(i) for i in group.ids)
        return found

    def record_malware(self, advisory: Advisory) -> bool:
        found = self._records.get(advisory.id)
        if found is None:
            found = advisory.malicious or any(
                is_malware_id(i) for i in (advisory.id, *advisory.aliases)
            )
            self._records[advisory.id] = found
        return found


def _summary(preferred: str, records: Mapping[str, Advisory]) -> str | None:
    """The preferred record's summary, else the first record's that has one."""
    if len(records) == 1:
        return next(iter(records.values())).summary or None
    ordered = sorted(records.values(), key=lambda a: (a.id != preferred, a.id))
    return next((a.summary for a in ordered if a.summary), None)


def _named_versions(entry: Affected) -> set[str]:
    """Every version an affected entry names: listed ones and its ranges' event versions."""
    named = set(entry.versions)
    named.update(e.version for r in entry.ranges for e in r.events if e.version != ZERO)
    return named


def possibly_affected(
    unpinned: Sequence[Unpinned],
    advisories: Sequence[Advisory],
    groups: Mapping[str, AliasGroup],
) -> tuple[Unpinned, ...]:
    """Each unpinned requirement with the advisory groups (preferred ids) affecting a version
    it admits, among the versions the data names: `>=2.0` admits 2.0.6, which PYSEC-… lists as
    affected. Nothing is resolved; a requirement whose versions are unknown (a URL) is left."""
    if not unpinned:
        return ()
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # only for unpinned ones

    by_package = _live_entries(advisories)
    result = []
    for item in unpinned:
        if item.specifier is None or item.name not in by_package:
            result.append(item)
            continue
        try:
            admits = SpecifierSet(item.specifier)
        except InvalidSpecifier:
            result.append(item)
            continue
        found: set[str] = set()
        for advisory, entry in by_package[item.name]:
            for text in _named_versions(entry):
                version = parse_version(text)
                if (
                    version is not None
                    and admits.contains(version, prereleases=True)
                    and affects(entry, text, version)
                ):
                    group = groups.get(advisory.id)
                    found.add(group.preferred if group else advisory.id)
                    break
        result.append(replace(item, possibly_affected=tuple(sorted(found, key=preference_key))))
    return tuple(result)
