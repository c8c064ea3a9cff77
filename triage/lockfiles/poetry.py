"""poetry.lock: a package graph; files per package (or, in old locks, under metadata.files)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from triage.core.matching import normalize_name
from triage.lockfiles.graph import Entry, GraphFormat, read_graph
from triage.lockfiles.pinning import array, fail, file_project, same_version, sha256
from triage.models import Artifact, LockfileContents


def _dependencies(entry: Entry) -> Iterator[str]:
    deps = entry.get("dependencies", {})
    if isinstance(deps, Mapping):
        yield from deps


def _local_source(entry: Entry) -> str | None:
    source = entry.get("source", {})
    kind = source.get("type") if isinstance(source, Mapping) else None
    return "directory" if kind == "directory" else None


def _markers(entry: Entry) -> str | None:
    marker = entry.get("marker")
    return marker if isinstance(marker, str) else None


def _states_version(filename: str, version: Any) -> bool:
    try:
        stated = file_project(filename)
    except ValueError:
        return True  # not a distribution name: check_files names it
    return stated is None or not isinstance(version, str) or same_version(stated[1], version)


def read_poetry(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    if "package" not in document and "metadata" not in document:
        raise fail(origin, "package", "missing: this is not a poetry.lock")
    metadata = document.get("metadata", {})
    legacy_files = metadata.get("files", {}) if isinstance(metadata, Mapping) else {}

    def listed(entry: Entry, raw_name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        files = entry.get("files")
        where = f"{raw_name}.files"
        shared = files is None
        if shared and isinstance(legacy_files, Mapping):
            files = legacy_files.get(raw_name, legacy_files.get(normalize_name(raw_name), []))
            where = f"metadata.files.{raw_name}"
        for number, item in enumerate(array(files, origin, where)):
            if isinstance(item, Mapping) and isinstance(item.get("file"), str):
                # Old locks list the files of every locked version of a name together: each
                # version takes the files that state it.
                if shared and not _states_version(item["file"], entry.get("version")):
                    continue
                yield f"{where}[{number}]", item

    def artifacts(entry: Entry, raw_name: str) -> Iterator[Artifact | None]:
        for _, item in listed(entry, raw_name):
            yield Artifact(item["file"], sha256(item.get("hash")))

    def files(entry: Entry, raw_name: str, where: str) -> Iterator[tuple[str, str]]:
        for place, item in listed(entry, raw_name):
            yield place, item["file"]

    lock = GraphFormat(
        dependencies=_dependencies,
        local_source=_local_source,
        artifacts=artifacts,
        markers=_markers,
        members_decide_direct=False,
        files=files,
    )
    return read_graph(document, origin, shown, lock=lock)
