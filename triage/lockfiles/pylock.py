"""PEP 751 `pylock.toml`. pip-audit's `PyLockSource` keeps no artifact names or hashes (the
trust check needs them), drops markers and crashes on a version that is not PEP 440, so it has
this small reader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triage.core.matching import normalize_name
from triage.lockfiles.pinning import (
    artifact_from_url,
    check_files,
    fail,
    known_major,
    name_of,
    sha256,
    table_list,
    version_from_files,
)
from triage.models import LockfileContents, Package, Unpinned

NEWEST_LOCK_VERSION = 1


def _file_name(table: Mapping[str, Any]) -> str | None:
    """A file's name: given, else the last part of its URL or path."""
    found = artifact_from_url(table.get("url") or table.get("path"), None, table.get("name"))
    return found.filename if found is not None else None


def _index_files(entry: Mapping[str, Any], where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The entry's wheels and sdist, each with its place."""
    files: list[tuple[str, Mapping[str, Any]]] = [
        (f"{where}.wheels[{n}]", wheel)
        for n, wheel in enumerate(entry.get("wheels", []) or [])
        if isinstance(wheel, Mapping)
    ]
    sdist = entry.get("sdist")
    if isinstance(sdist, Mapping):
        files.append((f"{where}.sdist", sdist))
    return files


def read_pylock(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    if "lock-version" not in document:
        raise fail(origin, "lock-version", "missing: this is not a PEP 751 lockfile")
    known_major(document["lock-version"], origin, "lock-version", newest=NEWEST_LOCK_VERSION)
    if "packages" not in document:
        # PEP 751 requires the array: a lock without it is not an empty lock, it is broken.
        raise fail(origin, "packages", "missing: a PEP 751 lock lists its packages")
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for index, entry in enumerate(table_list(document, "packages", origin)):
        where = f"packages[{index}]"
        name = name_of(entry, origin, where)
        files = _index_files(entry, where)
        named = [(place, n) for place, table in files if (n := _file_name(table)) is not None]
        version = entry.get("version")
        if version is not None and not isinstance(version, str):
            raise fail(origin, f"{where}.version", "expected a string")
        if version is None:
            # PEP 751 makes `version` optional: the files say which release it is, when they
            # agree; otherwise which version installs is not known.
            version = version_from_files(name, named, origin)
        if version is None:
            kind = next((k for k in ("vcs", "directory", "archive") if k in entry), None)
            reason = (
                f"{kind} source without a version"
                if kind
                else "no version given, and its files do not name one release"
            )
            unpinned.append(
                Unpinned(normalize_name(name), shown, where, reason, None if kind else "")
            )
            continue
        check_files(name, version, named, origin=origin, where=where)
        artifacts = [
            artifact_from_url(table.get("url"), sha256(table.get("hashes")), table.get("name"))
            for _, table in files
        ]
        archive = entry.get("archive")
        if isinstance(archive, Mapping):
            artifacts.append(
                artifact_from_url(
                    archive.get("url"), sha256(archive.get("hashes")), archive.get("name")
                )
            )
        marker = entry.get("marker")
        packages.append(
            Package(
                name=normalize_name(name),
                version=version,
                lockfile=shown,
                location=where,
                display_name=name,
                artifacts=tuple(dict.fromkeys(a for a in artifacts if a is not None)),
                markers=marker if isinstance(marker, str) else None,
            )
        )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))
