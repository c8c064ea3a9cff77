"""Matching (SPEC §4): ranges, enumerated versions, withdrawn records, alias groups."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from tests.conftest import ADVISORY_DB
from triage import sources
from triage.core.diagnostics import Diagnostics
from triage.core.matching import (
    DisjointSet,
    alias_groups,
    in_range,
    match,
    preference_key,
)
from triage.models import Advisory, Affected, Event, Package, Severity, VersionRange


def advisory(
    advisory_id: str,
    *events: tuple[str, str],
    aliases: tuple[str, ...] = (),
    versions: tuple[str, ...] = (),
    withdrawn: str | None = None,
    package: str = "demo",
) -> Advisory:
    ranges = (VersionRange(tuple(Event(k, v) for k, v in events)),) if events else ()
    return Advisory(
        id=advisory_id,
        modified="2024-01-01T00:00:00Z",
        published=None,
        withdrawn=withdrawn,
        aliases=aliases,
        affected=(Affected(package, ranges, versions),),
        severity=Severity.UNKNOWN,
        severity_vector=None,
        references=(),
    )


def pkg(version: str, name: str = "demo") -> Package:
    return Package(name=name, version=version, lockfile="requirements.txt", location="line 1")


def affected_versions(adv: Advisory, versions: list[str]) -> list[str]:
    result = match([pkg(v) for v in versions], [adv], alias_groups([adv]))
    return [v for f in result.findings for v in f.versions]


def test_introduced_fixed_last_affected_and_limit() -> None:
    fixed = advisory("X-1", ("introduced", "1.0"), ("fixed", "1.4"))
    assert affected_versions(fixed, ["0.9", "1.0", "1.3.9", "1.4", "2.0"]) == ["1.0", "1.3.9"]
    last = advisory("X-2", ("introduced", "0"), ("last_affected", "2.0"))
    assert affected_versions(last, ["0.1", "2.0", "2.0.1"]) == ["0.1", "2.0"]
    limited = advisory("X-3", ("introduced", "0"), ("limit", "3.0"))
    assert affected_versions(limited, ["1.0", "2.9", "3.0", "4.0"]) == ["1.0", "2.9"]
    # Events are ordered by version, not by their place in the record.
    shuffled = advisory(
        "X-4", ("fixed", "2.0"), ("introduced", "1.5"), ("fixed", "1.2"), ("introduced", "1.0")
    )
    assert affected_versions(shuffled, ["1.0", "1.2", "1.5", "1.9", "2.0"]) == ["1.0", "1.5", "1.9"]


def test_enumerated_versions_union_ranges_and_prereleases() -> None:
    adv = advisory("X-5", ("introduced", "2.0"), ("fixed", "2.1"), versions=("1.0rc1",))
    assert affected_versions(adv, ["1.0rc1", "1.0", "2.0", "2.1"]) == ["1.0rc1", "2.0"]


def test_withdrawn_records_never_match() -> None:
    adv = advisory("X-6", ("introduced", "0"), versions=("1.0",), withdrawn="2024-02-01T00:00:00Z")
    assert affected_versions(adv, ["1.0", "2.0"]) == []


def test_unparseable_version_is_reported_not_matched() -> None:
    adv = advisory("X-7", ("introduced", "0"))
    result = match([pkg("not a version")], [adv], alias_groups([adv]))
    assert result.findings == ()
    assert "not a PEP 440 version" in result.unmatchable[0].reason


def test_alias_groups_are_transitive_and_named_by_preferred_id() -> None:
    # PYSEC-2021-335 ~ CVE-1 (its alias); GHSA-x ~ CVE-1 and CVE-2; PYSEC-2021-99 ~ CVE-2.
    records = [
        advisory("PYSEC-2021-335", ("introduced", "0"), aliases=("CVE-2021-1",)),
        advisory("GHSA-aaaa-bbbb-cccc", ("introduced", "0"), aliases=("CVE-2021-1", "CVE-2021-2")),
        advisory("PYSEC-2021-99", ("introduced", "0"), aliases=("CVE-2021-2",)),
        advisory("PYSEC-2020-5", ("introduced", "0")),
    ]
    groups = alias_groups(records)
    assert groups["PYSEC-2021-335"] is groups["PYSEC-2021-99"]
    assert groups["CVE-2021-1"].preferred == "PYSEC-2021-99"  # (2021, 99) before (2021, 335)
    assert groups["PYSEC-2020-5"].ids == ("PYSEC-2020-5",)
    result = match([pkg("1.0")], records, groups)
    assert [str(f.key) for f in result.findings] == ["PYSEC-2020-5/demo", "PYSEC-2021-99/demo"]
    merged = result.findings[1]
    assert set(merged.aliases) == {
        "PYSEC-2021-335",
        "GHSA-aaaa-bbbb-cccc",
        "CVE-2021-1",
        "CVE-2021-2",
    }
    assert set(merged.record_ids) == {"PYSEC-2021-335", "GHSA-aaaa-bbbb-cccc", "PYSEC-2021-99"}


def test_preference_order() -> None:
    ids = [
        "CVE-2020-1",
        "GHSA-zzzz-zzzz-zzzz",
        "OSV-2020-1",
        "PYSEC-2021-335",
        "PYSEC-2021-99",
        "GHSA-aaaa-aaaa-aaaa",
    ]
    assert sorted(ids, key=preference_key) == [
        "PYSEC-2021-99",
        "PYSEC-2021-335",
        "GHSA-aaaa-aaaa-aaaa",
        "GHSA-zzzz-zzzz-zzzz",
        "CVE-2020-1",
        "OSV-2020-1",
    ]


def test_disjoint_set_union_by_size() -> None:
    sets = DisjointSet()
    for a, b in [("a", "b"), ("c", "d"), ("b", "d"), ("e", "e")]:
        sets.union(a, b)
    assert sorted(sorted(g) for g in sets.groups()) == [["a", "b", "c", "d"], ["e"]]


# --- property: range evaluation against a brute-force reading of the events ------------------

POOL = [f"{major}.{minor}" for major in range(4) for minor in range(4)] + ["1.0a1", "2.0.post1"]


def brute_force(version: Version, events: list[tuple[str, str]]) -> bool:
    """The latest event (by version) that has taken effect at `version` decides; a
    last_affected bound takes effect only above it; any limit must lie above the version."""
    limits = [Version(v) for k, v in events if k == "limit"]
    if limits and not any(version < limit for limit in limits):
        return False
    deciding = None
    # OSV's introduced "0" lies before every version, "0.0" included.
    for kind, text in sorted(
        (e for e in events if e[0] != "limit"),
        key=lambda e: (0, Version("0")) if e[1] == "0" else (1, Version(e[1])),
    ):
        bound = Version("0") if text == "0" else Version(text)
        reached = version > bound if kind == "last_affected" else version >= bound
        if reached or (kind == "introduced" and text == "0"):
            deciding = kind
    return deciding == "introduced"


@st.composite
def event_lists(draw: st.DrawFn) -> list[tuple[str, str]]:
    versions = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=6, unique=True))
    kinds = draw(
        st.lists(
            st.sampled_from(["introduced", "fixed", "last_affected", "limit"]),
            min_size=len(versions),
            max_size=len(versions),
        )
    )
    events = list(zip(kinds, versions, strict=True))
    if draw(st.booleans()):
        events.append(("introduced", "0"))
    return events


@given(event_lists(), st.lists(st.sampled_from(POOL), min_size=1, max_size=10))
def test_range_evaluation_matches_brute_force(
    events: list[tuple[str, str]], versions: list[str]
) -> None:
    vrange = VersionRange(tuple(Event(k, v) for k, v in events))
    for text in versions:
        assert in_range(Version(text), vrange) == brute_force(Version(text), events), text


# --- agreement with the real PyPA advisory database ------------------------------------------


def test_every_enumerated_version_matches_its_record_and_withdrawn_never_match() -> None:
    listing = sources.list_source(str(ADVISORY_DB), Path("."))
    records = [a for _, a in sources.iter_decoded(listing, listing.entries, Diagnostics())]
    assert len(records) == 2661
    groups = alias_groups(records)
    checked = withdrawn = 0
    for record in records:
        for entry in record.affected:
            listed = [v for v in entry.versions if _parses(v)]
            packages = [pkg(v, entry.package) for v in listed]
            found = match(packages, [record], groups).findings
            matched = {v for f in found for v in f.versions}
            if record.withdrawn:
                withdrawn += 1
                assert not found, record.id
            else:
                assert matched == set(listed), record.id
                checked += len(listed)
    assert withdrawn >= 10
    assert checked == 139_373  # every parseable enumerated version of a live record


def _parses(text: str) -> bool:
    try:
        Version(text)
    except ValueError:
        return False
    return True
