"""The match index: one package's advisory data compiled at sync into a form a scan matches
without parsing it (SPEC §4's evaluation, done once per package and not once per scan).

A package's boundary versions (every version its ranges and lists name) are parsed once and
ordered. A locked version then sits in one *slot*: slot 2i+1 is "equal to boundary i", slot
2i is "between boundary i-1 and boundary i" (slot 0 is below them all, slot 2n above). An
affected entry becomes the slots it affects, as inclusive intervals, so matching a locked
version is a binary search over the boundaries and an interval test per record.

The index's verdict is "these records affect this version", and for a record with one
entry that does, that entry's fixed versions (kept with its slots): the finding is then built
by `matching.match` from the record's head and those versions, without reading the entry. A
record with several affecting entries is matched from its entries, as without the index; a
finding reads the same either way (tests/test_fast_path.py compares both paths)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import msgspec
from msgspec import Struct
from packaging.version import Version

from triage.core.matching import ZERO, fixed_versions, parse_version
from triage.models import Advisory, Affected, Event, Package

Interval = tuple[int, int]


def _boundaries(entries: Sequence[Affected]) -> tuple[list[str], dict[str, int]]:
    """Every PEP 440 version the entries name, in order, one per equal version; and the slot
    "equal to" each text that names one (a text that is not PEP 440 has none)."""
    parsed: dict[str, Version] = {}
    for entry in entries:
        texts = list(entry.versions)
        texts += [e.version for r in entry.ranges for e in r.events if e.version != ZERO]
        for text in texts:
            if text not in parsed:
                version = parse_version(text)
                if version is not None:
                    parsed[text] = version
    named: dict[Version, str] = {}
    for text, version in parsed.items():
        named.setdefault(version, text)
    ordered = sorted(named)
    position = {version: i for i, version in enumerate(ordered)}
    slots = {text: 2 * position[version] + 1 for text, version in parsed.items()}
    return [named[v] for v in ordered], slots


def _range_slots(events: Sequence[Event], slot_of: Mapping[str, int], slots: int) -> set[int]:
    """The slots a range affects, by OSV's walk: events in version order ("introduced 0"
    first), the last that applies at a version decides; a version must lie below a limit
    when the range has any."""
    limits = [e for e in events if e.kind == "limit"]
    allowed = range(slots)
    if limits:
        tops = [slot_of.get(e.version) for e in limits]
        # Below a limit: up to the slot just under its boundary.
        highest = max((top - 1 for top in tops if top is not None), default=-1)
        allowed = range(highest + 1)
    # (where the event sits in the walk's order, the slot it starts to apply at, its kind)
    placed: list[tuple[int, int, str]] = []
    for event in events:
        if event.kind == "limit":
            continue
        if event.kind == "introduced" and event.version == ZERO:
            placed.append((-1, 0, event.kind))  # before every version
            continue
        at = slot_of.get(event.version)
        if at is None:
            continue  # not PEP 440: it cannot be placed (sync warned about it)
        # last_affected stops applying only above its version.
        placed.append((at, at + 1 if event.kind == "last_affected" else at, event.kind))
    placed.sort(key=lambda item: item[0])  # stable: ties keep the record's order
    # A slot's state is set by the last event in that order starting at or below it: event i
    # decides the slots from its start up to (not including) the lowest start after it.
    affected: set[int] = set()
    lowest_after = len(allowed)
    for _, start, kind in reversed(placed):
        if kind == "introduced" and start < lowest_after:
            affected.update(range(max(start, 0), lowest_after))
        lowest_after = min(lowest_after, start)
    return affected


def _intervals(slots: set[int]) -> list[Interval]:
    result: list[Interval] = []
    for slot in sorted(slots):
        if result and result[-1][1] == slot - 1:
            result[-1] = (result[-1][0], slot)
        else:
            result.append((slot, slot))
    return result


def compile_package(records: Sequence[tuple[Advisory, Affected]]) -> str | None:
    """One package's compiled form, from its (record, affected entry) pairs; withdrawn records
    never match and are left out. None when nothing is left."""
    live = [(a.id, e) for a, e in records if not a.withdrawn]
    if not live:
        return None
    bounds, slot_of = _boundaries([e for _, e in live])
    slots = 2 * len(bounds) + 1
    compiled = []
    for advisory_id, entry in live:
        affected: set[int] = set()
        for vrange in entry.ranges:
            affected |= _range_slots(vrange.events, slot_of, slots)
        affected.update(slot_of[text] for text in entry.versions if text in slot_of)
        if affected:
            compiled.append([advisory_id, _intervals(affected), list(fixed_versions((entry,)))])
    return json.dumps({"bounds": bounds, "records": compiled})


def slot(bounds: Sequence[str], version: Version) -> int:
    """Where `version` sits among the ordered boundaries (parsing about log2(n) of them)."""
    low, high = 0, len(bounds)
    while low < high:
        middle = (low + high) // 2
        bound = parse_version(bounds[middle])
        if bound is not None and bound < version:
            low = middle + 1
        else:
            high = middle
    if low < len(bounds) and parse_version(bounds[low]) == version:
        return 2 * low + 1
    return 2 * low


class Compiled(Struct, frozen=True):
    """A package's compiled form as the index row holds it: `{"bounds": [...], "records":
    [[id, [[first slot, last slot], ...], [fixed version, ...]], ...]}`, one item per affected
    entry (a record may have more than one for the package)."""

    bounds: list[str]
    records: list[tuple[str, list[Interval], tuple[str, ...]]]


_FORM = msgspec.json.Decoder(Compiled)

# The fixed versions of the one entry of a record that affects a version (what its finding
# reports), or None when more than one of its entries does: those are matched in full.
Verdict = tuple[str, ...] | None


def affecting(form: Compiled, version: Version) -> dict[str, Verdict]:
    """The records that affect `version`, from a package's decoded form, by id."""
    where = slot(form.bounds, version)
    found: dict[str, Verdict] = {}
    for advisory_id, intervals, fixed in form.records:
        if any(start <= where <= end for start, end in intervals):
            found[advisory_id] = None if advisory_id in found else fixed
    return found


def decode(compiled: str) -> Compiled:
    """The form, its every value of the type it must have (else a ValueError)."""
    return _FORM.decode(compiled)


class Hits(Struct, frozen=True):
    """What the index says of a list of packages."""

    by_name: dict[str, set[str]]  # the records affecting some locked version of the name
    # Per package, in order, the records affecting its version and their verdicts; None: not
    # from the index.
    by_package: list[dict[str, Verdict] | None]
    whole: set[str]  # names whose every record must be read and matched
    # By name, the records with more than one entry affecting a locked version: the entries
    # a scan reads (the index decided the rest).
    undecided: dict[str, set[str]]


def hits(packages: Sequence[Package], compiled: Mapping[str, str]) -> Hits:
    """The records affecting each locked version. A version that is not PEP 440 is matched
    only against the versions records list, as text, so its name's every record is read."""
    found = Hits({}, [], set(), {})
    forms: dict[str, Compiled] = {}
    for package in packages:
        text = compiled.get(package.name)
        version = parse_version(package.version)
        if version is None:
            found.whole.add(package.name)
            found.by_package.append(None)
            continue
        if text is None:
            found.by_package.append({})
            continue
        try:
            if package.name not in forms:
                forms[package.name] = decode(text)
            affected = affecting(forms[package.name], version)
        except (ValueError, KeyError, TypeError, RecursionError):
            # Not a compiled form (a damaged or edited database): every record of the
            # package is read and matched instead, never fewer.
            found.whole.add(package.name)
            found.by_package.append(None)
            continue
        found.by_package.append(affected)
        if affected:
            found.by_name.setdefault(package.name, set()).update(affected)
            undecided = {i for i, verdict in affected.items() if verdict is None}
            found.undecided.setdefault(package.name, set()).update(undecided)
    return found
