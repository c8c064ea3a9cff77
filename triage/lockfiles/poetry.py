"""poetry.lock: a package graph; files per package (or, in old locks, under metadata.files)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from packaging.utils import canonicalize_name

from triage.lockfiles.graph import Entry, GraphFormat, read_graph
from triage.lockfiles.pinning import array, fail, sha256
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


def read_poetry(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    if "package" not in document and "metadata" not in document:
        raise fail(origin, "package", "missing: this is not a poetry.lock")
    metadata = document.get("metadata", {})
    legacy_files = metadata.get("files", {}) if isinstance(metadata, Mapping) else {}

    def artifacts(entry: Entry, raw_name: str) -> Iterator[Artifact | None]:
        files = entry.get("files")
        if files is None and isinstance(legacy_files, Mapping):
            files = legacy_files.get(raw_name, legacy_files.get(canonicalize_name(raw_name), []))
        for item in array(files, origin, f"{raw_name}.files"):
            if isinstance(item, Mapping) and isinstance(item.get("file"), str):
                yield Artifact(item["file"], sha256(item.get("hash")))

    lock = GraphFormat(
        dependencies=_dependencies,
        local_source=_local_source,
        artifacts=artifacts,
        markers=_markers,
        members_decide_direct=False,
    )
    return read_graph(document, origin, shown, lock)
