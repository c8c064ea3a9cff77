"""Readings kept in the database cache: a lockfile's contents as JSON, keyed by the reader
and the content's digest, relabelled on the way back with the path the content has now."""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

import msgspec
from msgspec.structs import replace

from triage import __version__
from triage.lockfiles.formats import FormatId
from triage.models import LockfileContents


class ReadingCache(Protocol):
    """Where readings are kept (the database's lockfile cache)."""

    def cached_lockfile(self, key: str) -> str | None: ...

    def cache_lockfile(self, key: str, contents: str, source: bytes | None = None) -> None: ...


class NoCache:
    """No reading kept or served: every file parsed as it is (witness verify)."""

    def cached_lockfile(self, key: str) -> str | None:
        return None

    def cache_lockfile(self, key: str, contents: str, source: bytes | None = None) -> None:
        return None


@cache
def reader_id() -> str:
    """triage's version and a digest of the readers' own source (and the models they fill):
    a reading cached by one build of the readers is never served by another, released or
    not."""
    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).parent
    for source in [*sorted(here.glob("*.py")), *sorted((here.parent / "models").glob("*.py"))]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def reading_key(kind: FormatId, content_id: str) -> str:
    """The cache key of a reading: reader build, format (the name chooses the reader) and the
    content's id (a git blob id, or sha256:… of a working-tree file)."""
    return f"triage-{reader_id()}:{kind}:{content_id}"


def contents_to_json(contents: LockfileContents) -> str | None:
    """The reading as the cache keeps it; None for one JSON cannot carry (a lone surrogate a
    file's undecodable bytes were read as): that file is read again each time, never kept
    altered."""
    try:
        return msgspec.json.encode(contents).decode()
    except UnicodeEncodeError:
        return None


def contents_from_json(text: str, path: str) -> LockfileContents | None:
    """A cached reading, relabelled with the path the same content has now (it may have
    moved); None when the cached text is not a reading of this build's models (a damaged or
    edited database): the file is then read again, never trusted half-way."""
    return _parsed(text, path)


# An organisation audit reads the same few readings for many repositories: the frozen result
# is shared rather than rebuilt from JSON for each one.
@lru_cache(maxsize=64)
def _parsed(text: str, path: str) -> LockfileContents | None:
    try:
        raw = msgspec.json.decode(text, type=LockfileContents)
    except msgspec.DecodeError:  # not JSON, or not every field of the type it must have
        return None
    return LockfileContents(
        path,
        tuple(replace(p, lockfile=path) for p in raw.packages),
        tuple(replace(u, lockfile=path) for u in raw.unpinned),
        raw.members,
    )


def is_self_contained(contents: LockfileContents) -> bool:
    """True when the reading read nothing but the one file (no -r include, even of an empty
    file, which may fill later), so its content is a key."""
    return (
        not contents.includes
        and all(p.lockfile == contents.path for p in contents.packages)
        and all(u.lockfile == contents.path for u in contents.unpinned)
    )
