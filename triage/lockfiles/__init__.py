"""Lockfile readers: requirements files, PEP 751 pylock.toml, uv.lock, poetry.lock, Pipfile.lock
(and a pinned pyproject.toml named with --lockfile).

Files are only read: nothing is installed, resolved or executed. A requirement that does not
name exactly one version is reported as `Unpinned`, never resolved.
"""

from __future__ import annotations

import posixpath
import tomllib
from pathlib import Path

from triage.errors import LockfileError
from triage.lockfiles.cache import contents_from_json, contents_to_json, is_self_contained
from triage.lockfiles.discovery import (
    CONVENTIONS,
    FORMAT_NAMES,
    discover,
    lockfile_format,
    select,
)
from triage.lockfiles.pinning import display_path
from triage.lockfiles.pipfile import read_pipfile
from triage.lockfiles.poetry import read_poetry
from triage.lockfiles.pylock import read_pylock
from triage.lockfiles.pyproject import direct_names, read_pyproject
from triage.lockfiles.requirements import read_requirements
from triage.lockfiles.source import (
    Includes,
    LockText,
    decode,
    read_path,
    tree_includes,
    tree_path,
    working_tree_includes,
)
from triage.lockfiles.uv import read_uv
from triage.models import LockfileContents

__all__ = [
    "CONVENTIONS",
    "FORMAT_NAMES",
    "LockText",
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
    "select",
    "tree_includes",
    "tree_path",
]

_TOML_READERS = {
    "pylock": read_pylock,
    "uv": read_uv,
    "poetry": read_poetry,
    "pyproject": read_pyproject,
}


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
        return read_requirements(lock, includes)
    if kind == "pipfile":
        return read_pipfile(lock.text, lock.origin, lock.shown)
    hint = "regenerate the lockfile with its tool, or pass the right file with --lockfile"
    name = posixpath.basename(lock.shown)
    try:
        document = tomllib.loads(lock.text)
    except tomllib.TOMLDecodeError as exc:
        raise LockfileError(
            f"{lock.origin}: not valid TOML, so not a {name}: {exc}", hint=hint
        ) from exc
    except (RecursionError, ValueError) as exc:  # nesting or numbers past any real lockfile's
        raise LockfileError(f"{lock.origin}: not a {name}: {exc}", hint=hint) from exc
    return _TOML_READERS[kind](document, lock.origin, lock.shown)


def read_lockfile(path: Path, root: Path) -> LockfileContents:
    """A lockfile of the working tree; what it includes must lie under `root`."""
    kind = lockfile_format(path)
    if kind is None:
        raise LockfileError(
            f"{path}: not a lockfile name triage reads",
            hint="name it requirements*.txt, pylock.toml, pylock.<name>.toml, uv.lock, "
            "poetry.lock, Pipfile.lock or pyproject.toml",
        )
    return read_text(kind, read_path(path, root), working_tree_includes(root))
