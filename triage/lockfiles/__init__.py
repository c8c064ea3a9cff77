"""Lockfile readers: requirements files, PEP 751 pylock.toml, uv.lock, poetry.lock, Pipfile.lock
(and a pinned pyproject.toml named with --lockfile).

Files are only read: nothing is installed, resolved or executed. A requirement that does not
name exactly one version is reported as `Unpinned`, never resolved.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from triage.errors import LockfileError
from triage.lockfiles.cache import (
    NoCache,
    ReadingCache,
    contents_from_json,
    contents_to_json,
    is_self_contained,
    reading_key,
)
from triage.lockfiles.discovery import CONVENTIONS, discover, select
from triage.lockfiles.formats import BY_ID, FORMATS, FormatId, LockFormat, lockfile_format
from triage.lockfiles.source import (
    Includes,
    LockText,
    decode,
    display_path,
    read_bytes,
    tree_includes,
    tree_path,
    working_tree_includes,
)
from triage.models import LockfileContents

__all__ = [
    "BY_ID",
    "CONVENTIONS",
    "FORMATS",
    "FormatId",
    "LockFormat",
    "LockText",
    "NoCache",
    "ReadingCache",
    "contents_from_json",
    "contents_to_json",
    "decode",
    "direct_names",
    "discover",
    "display_path",
    "is_self_contained",
    "lockfile_format",
    "read_lockfile",
    "read_text",
    "reading_key",
    "select",
    "tree_includes",
    "tree_path",
    "working_tree_includes",
]


def direct_names(pyproject_text: str) -> set[str]:
    from triage.lockfiles.pyproject import direct_names as from_pyproject

    return from_pyproject(pyproject_text)


def read_text(kind: LockFormat, lock: LockText, includes: Includes) -> LockfileContents:
    """A lockfile of format `kind` from its text; `includes` opens what it includes. The
    readers check the types they use and name the key; a value of a type no reader expected
    still ends here as bad input naming the file, never as a traceback."""
    try:
        return kind.read(lock, includes)
    except (AttributeError, TypeError, KeyError) as exc:
        raise LockfileError(
            f"{lock.origin}: a value of an unexpected type ({type(exc).__name__}: {exc})",
            hint="regenerate the lockfile with its tool, or pass the right file with --lockfile",
        ) from exc


def read_lockfile(path: Path, root: Path, cache: ReadingCache | None = None) -> LockfileContents:
    """A lockfile of the working tree; what it includes must lie under `root`. With a cache,
    a reading is kept by the content's sha256, so an unchanged file is not parsed again."""
    kind = lockfile_format(path)
    if kind is None:
        raise LockfileError(
            f"{path}: not a lockfile name triage reads",
            hint="name it requirements*.txt, pylock.toml, pylock.<name>.toml, uv.lock, "
            "poetry.lock, Pipfile.lock or pyproject.toml",
        )
    data = read_bytes(path)
    shown = display_path(path, root)
    # The digest is of the very bytes parsed below: nothing can change in between.
    key = reading_key(kind.id, "sha256:" + hashlib.sha256(data).hexdigest()) if cache else None
    if cache is not None and key is not None:
        cached = cache.cached_lockfile(key)
        reading = contents_from_json(cached, shown) if cached is not None else None
        if reading is not None:
            return reading
    lock = LockText(decode(data, str(path)), shown, str(path))
    contents = read_text(kind, lock, working_tree_includes(root))
    if cache is not None and key is not None and is_self_contained(contents):
        kept = contents_to_json(contents)
        if kept is not None:
            cache.cache_lockfile(key, kept, data)
    return contents
