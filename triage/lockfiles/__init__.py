"""Lockfile readers: requirements files, PEP 751 pylock.toml, uv.lock, poetry.lock, Pipfile.lock
(and a pinned pyproject.toml named with --lockfile).

Files are only read: nothing is installed, resolved or executed. A requirement that does not
name exactly one version is reported as `Unpinned`, never resolved.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from triage.errors import LockfileError
from triage.lockfiles.cache import (
    NoCache,
    ReadingCache,
    contents_from_json,
    contents_to_json,
    is_self_contained,
    reading_key,
)
from triage.lockfiles.discovery import (
    CONVENTIONS,
    FORMAT_NAMES,
    discover,
    lockfile_format,
    select,
)
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
from triage.models import LockfileContents, Package

__all__ = [
    "CONVENTIONS",
    "FORMAT_NAMES",
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
    "pin_lines",
    "read_lockfile",
    "read_text",
    "reading_key",
    "select",
    "tree_includes",
    "tree_path",
]

TomlReader = Callable[[Mapping[str, Any], str, str], LockfileContents]

# The readers (and packaging's specifiers, pip's parser, the TOML parser they need) load when
# a lockfile must really be parsed: a scan whose readings are all cached never loads them.


def pin_lines(kind: str, text: str, packages: Iterable[Package]) -> dict[tuple[str, str, str], int]:
    from triage.lockfiles.lines import pin_lines as find

    return find(kind, text, packages)


def direct_names(pyproject_text: str) -> set[str]:
    from triage.lockfiles.pyproject import direct_names as from_pyproject

    return from_pyproject(pyproject_text)


def read_text(kind: str, lock: LockText, includes: Includes) -> LockfileContents:
    """A lockfile of format `kind` from its text; `includes` opens what it includes. The
    readers check the types they use and name the key; a value of a type no reader expected
    still ends here as bad input naming the file, never as a traceback."""
    try:
        return _read(kind, lock, includes)
    except (AttributeError, TypeError, KeyError) as exc:
        raise LockfileError(
            f"{lock.origin}: a value of an unexpected type ({type(exc).__name__}: {exc})",
            hint="regenerate the lockfile with its tool, or pass the right file with --lockfile",
        ) from exc


def _read(kind: str, lock: LockText, includes: Includes) -> LockfileContents:
    if kind == "requirements":
        from triage.lockfiles.requirements import read_requirements

        return read_requirements(lock, includes)
    if kind == "pipfile":
        from triage.lockfiles.pipfile import read_pipfile

        return read_pipfile(lock.text, lock.origin, lock.shown)
    hint = "regenerate the lockfile with its tool, or pass the right file with --lockfile"
    name = posixpath.basename(lock.shown)
    # rtoml (Rust's toml crate) reads InvokeAI's 1.8 MB uv.lock in 11 ms where the standard
    # library's tomllib takes 184 ms: the whole of a cold scan. It is as strict (duplicate
    # keys, bad escapes, nesting past 80 levels are errors, never a crash).
    import rtoml

    try:
        document = rtoml.loads(lock.text)
    except rtoml.TomlParsingError as exc:
        raise LockfileError(
            f"{lock.origin}: not valid TOML, so not a {name}: {exc}", hint=hint
        ) from exc
    except (RecursionError, ValueError) as exc:  # numbers past any real lockfile's
        raise LockfileError(f"{lock.origin}: not a {name}: {exc}", hint=hint) from exc
    return _toml_reader(kind)(document, lock.origin, lock.shown)


def _toml_reader(kind: str) -> TomlReader:
    if kind == "pylock":
        from triage.lockfiles.pylock import read_pylock

        return read_pylock
    if kind == "uv":
        from triage.lockfiles.uv import read_uv

        return read_uv
    if kind == "poetry":
        from triage.lockfiles.poetry import read_poetry

        return read_poetry
    from triage.lockfiles.pyproject import read_pyproject

    return read_pyproject


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
    key = reading_key(kind, "sha256:" + hashlib.sha256(data).hexdigest()) if cache else None
    if cache is not None and key is not None:
        cached = cache.cached_lockfile(key)
        reading = contents_from_json(cached, shown) if cached is not None else None
        if reading is not None:
            return reading
    lock = LockText(decode(data, str(path)), shown, str(path))
    contents = read_text(kind, lock, working_tree_includes(root))
    if cache is not None and key is not None and is_self_contained(contents):
        cache.cache_lockfile(key, contents_to_json(contents), data)
    return contents
