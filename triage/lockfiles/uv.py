"""uv.lock: a package graph whose workspace members (editable, virtual or directory sources)
are the project itself, so what they pull in is direct."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from triage.lockfiles.graph import Entry, GraphFormat, read_graph
from triage.lockfiles.pinning import artifact_from_url, fail, known_major, sha256
from triage.models import Artifact, LockfileContents

LOCAL_SOURCES = ("editable", "virtual", "directory")
NEWEST_UV_LOCK = 1


def _dependencies(entry: Entry) -> Iterator[str]:
    groups = [entry.get("dependencies", [])]
    for extra in ("optional-dependencies", "dev-dependencies"):
        table = entry.get(extra, {})
        if isinstance(table, Mapping):
            groups.extend(table.values())
    for group in groups:
        for dep in group if isinstance(group, list) else []:
            if isinstance(dep, Mapping) and isinstance(dep.get("name"), str):
                yield dep["name"]


def _local_source(entry: Entry) -> str | None:
    source = entry.get("source", {})
    if not isinstance(source, Mapping):
        return None
    return next((kind for kind in LOCAL_SOURCES if kind in source), None)


def _tables(entry: Entry, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    sdist = entry.get("sdist")
    if isinstance(sdist, Mapping):
        yield f"{where}.sdist", sdist
    for number, wheel in enumerate(entry.get("wheels", []) or []):
        if isinstance(wheel, Mapping):
            yield f"{where}.wheels[{number}]", wheel


def _artifact(table: Mapping[str, Any]) -> Artifact | None:
    return artifact_from_url(
        table.get("url") or table.get("path"), sha256(table.get("hash")), table.get("filename")
    )


def _artifacts(entry: Entry, raw_name: str) -> Iterator[Artifact | None]:
    for _, table in _tables(entry, ""):
        yield _artifact(table)


def _files(entry: Entry, raw_name: str, where: str) -> Iterator[tuple[str, str]]:
    for place, table in _tables(entry, where):
        found = _artifact(table)
        if found is not None:
            yield place, found.filename


UV = GraphFormat(
    dependencies=_dependencies,
    local_source=_local_source,
    artifacts=_artifacts,
    markers=lambda entry: None,
    members_decide_direct=True,
    files=_files,
)


def read_uv(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    if "version" not in document:
        raise fail(origin, "version", "missing: this is not a uv.lock")
    known_major(document["version"], origin, "version", newest=NEWEST_UV_LOCK)
    return read_graph(document, origin, shown, lock=UV)
