"""PEP 751 `pylock.toml`. pip-audit's `PyLockSource` keeps no artifact names or hashes (the
trust check needs them), drops markers and crashes on a version that is not PEP 440, so it has
this small reader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.utils import canonicalize_name

from triage.lockfiles.pinning import (
    artifact_from_url,
    fail,
    known_major,
    name_of,
    sha256,
    table_list,
)
from triage.models import LockfileContents, Package, Unpinned

NEWEST_LOCK_VERSION = 1


def read_pylock(document: Mapping[str, Any], origin: str, shown: str) -> LockfileContents:
    if "lock-version" not in document:
        raise fail(origin, "lock-version", "missing: this is not a PEP 751 lockfile")
    known_major(document["lock-version"], origin, "lock-version", NEWEST_LOCK_VERSION)
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for index, entry in enumerate(table_list(document, "packages", origin)):
        where = f"packages[{index}]"
        name = name_of(entry, origin, where)
        version = entry.get("version")
        if not isinstance(version, str):
            kind = next((k for k in ("vcs", "directory", "archive") if k in entry), None)
            if kind is None:  # from an index: PEP 751 requires its version
                raise fail(
                    origin, f"{where}.version", "missing: a package from an index names its version"
                )
            unpinned.append(
                Unpinned(canonicalize_name(name), shown, where, f"{kind} source without a version")
            )
            continue
        artifacts = []
        for wheel in entry.get("wheels", []) or []:
            if isinstance(wheel, Mapping):
                found = artifact_from_url(
                    wheel.get("url"), sha256(wheel.get("hashes")), wheel.get("name")
                )
                artifacts.append(found)
        for key in ("sdist", "archive"):
            table = entry.get(key)
            if isinstance(table, Mapping):
                artifacts.append(
                    artifact_from_url(
                        table.get("url"), sha256(table.get("hashes")), table.get("name")
                    )
                )
        marker = entry.get("marker")
        packages.append(
            Package(
                name=canonicalize_name(name),
                version=version,
                lockfile=shown,
                location=where,
                display_name=name,
                artifacts=tuple(dict.fromkeys(a for a in artifacts if a is not None)),
                markers=marker if isinstance(marker, str) else None,
            )
        )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))
