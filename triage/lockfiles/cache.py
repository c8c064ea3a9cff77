"""Readings kept in the database cache: a lockfile's contents as JSON, relabelled on the way
back with the path its blob has now."""

from __future__ import annotations

import dataclasses
import json

from triage.models import Artifact, LockfileContents, Package, Unpinned


def contents_to_json(contents: LockfileContents) -> str:
    return json.dumps(dataclasses.asdict(contents))


def contents_from_json(text: str, path: str) -> LockfileContents:
    """A cached reading, relabelled with the path the same blob has now (it may have moved)."""
    raw = json.loads(text)
    packages = tuple(
        Package(
            **{
                **p,
                "lockfile": path,
                "hashes": tuple(p["hashes"]),
                "artifacts": tuple(Artifact(**a) for a in p["artifacts"]),
                "extras": tuple(p["extras"]),
                "via": tuple(p["via"]),
            }
        )
        for p in raw["packages"]
    )
    unpinned = tuple(Unpinned(**{**u, "lockfile": path}) for u in raw["unpinned"])
    return LockfileContents(path, packages, unpinned, tuple(raw.get("members", ())))


def is_self_contained(contents: LockfileContents) -> bool:
    """True when everything came from the one file (no -r include), so its blob id is a key."""
    return all(p.lockfile == contents.path for p in contents.packages) and all(
        u.lockfile == contents.path for u in contents.unpinned
    )
