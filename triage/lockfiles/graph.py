"""One reader for the locks that are a package graph (uv.lock, poetry.lock): a first pass
collects who depends on whom, a second reads each package with what pulls it in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from msgspec import Struct

from triage.core.matching import normalize_name
from triage.lockfiles.pinning import check_files, fail, name_of, reverse_graph, table_list
from triage.models import Artifact, LockfileContents, Package

Entry = Mapping[str, Any]


class GraphFormat(Struct, frozen=True):
    """What differs between the graph locks."""

    dependencies: Callable[[Entry], Iterable[str]]  # names an entry depends on
    local_source: Callable[[Entry], str | None]  # "editable", "directory"…: not a release
    artifacts: Callable[[Entry, str], Iterable[Artifact | None]]  # (entry, its raw name)
    markers: Callable[[Entry], str | None]
    members_decide_direct: bool  # direct = pulled in by a local member (uv's workspace)
    files: Callable[[Entry, str, str], Iterable[tuple[str, str]]]  # (entry, raw name, place):
    # (place, file name) of each distribution file it locks


def read_graph(
    document: Mapping[str, Any], origin: str, shown: str, *, lock: GraphFormat
) -> LockfileContents:
    entries = table_list(document, "package", origin)
    members: set[str] = set()
    edges: list[tuple[str, str]] = []
    for index, entry in enumerate(entries):
        name = normalize_name(name_of(entry, origin, f"package[{index}]"))
        if lock.local_source(entry):
            members.add(name)
        edges.extend((name, normalize_name(dep)) for dep in lock.dependencies(entry))
    parents = reverse_graph(edges)
    packages: list[Package] = []
    local_members: list[str] = []
    for index, entry in enumerate(entries):
        where = f"package[{index}]"
        raw_name = name_of(entry, origin, where)
        name = normalize_name(raw_name)
        version = entry.get("version")
        if lock.local_source(entry):
            local_members.append(name)  # the project itself (versionless in real uv.locks)
            continue
        if not isinstance(version, str):
            # A registry or git entry always names its version: one without (a misspelt
            # key, say) would make a vulnerable package vanish from the scan.
            raise fail(origin, f"{where}.version", "missing: a locked package names its version")
        check_files(
            raw_name, version, lock.files(entry, raw_name, where), origin=origin, where=where
        )
        via = tuple(sorted(parents.get(name, set())))
        packages.append(
            Package(
                name=name,
                version=version,
                lockfile=shown,
                location=where,
                display_name=raw_name,
                artifacts=tuple(
                    dict.fromkeys(a for a in lock.artifacts(entry, raw_name) if a is not None)
                ),
                markers=lock.markers(entry),
                via=via,
                direct=bool(members.intersection(via))
                if lock.members_decide_direct and members
                else None,
            )
        )
    return LockfileContents(shown, tuple(packages), (), tuple(local_members))
