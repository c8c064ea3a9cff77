"""Where a lockfile's text comes from: the working tree, or blobs of a git tree held in
memory. Readers get the text and a way to open what it includes; nothing read from a tree is
ever written to disk under its own name, and includes never leave the tree or the root."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path

from msgspec import Struct

from triage.errors import LockfileError


class LockText(Struct, frozen=True):
    text: str
    shown: str  # its path in reports: relative to the scanned root, or inside the tree
    origin: str  # how messages name it: the path as given, or REF:path


Includes = Callable[[LockText, str, str], LockText]  # (including file, target, where) -> text


def display_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LockfileError(
            f"{origin}: not UTF-8 text: {exc}",
            hint="save the file as UTF-8, or pass the right file with --lockfile",
        ) from exc


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LockfileError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def read_path(path: Path, root: Path) -> LockText:
    data = read_bytes(path)
    return LockText(decode(data, str(path)), display_path(path, root), str(path))


def _outside(where: str, inside: str) -> LockfileError:
    return LockfileError(
        f"{where} points outside {inside}; includes are read only inside the scanned repository",
        hint="include files by a path inside the repository",
    )


def working_tree_includes(root: Path) -> Includes:
    """Includes relative to the including file, kept inside `root` (links are resolved first,
    so a committed symlink to ~/.netrc is refused too)."""
    inside = root.resolve()

    def open_include(parent: LockText, target: str, where: str) -> LockText:
        included = (Path(parent.origin).parent / target).resolve()
        if not included.is_relative_to(inside):
            raise _outside(where, str(root))
        if not included.is_file():
            raise LockfileError(f"{where}: no such file", hint="fix the include's path")
        return read_path(included, root)

    return open_include


def tree_path(base: str, target: str) -> str | None:
    """`target` relative to the folder `base` of a tree, normalised; None when it leaves the
    tree (absolute, or climbing past its top)."""
    if target.startswith("/") or "\\" in target:
        return None
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return None
    return joined


def tree_includes(files: Mapping[str, bytes], label: str) -> Includes:
    """Includes among the blobs of one tree (held in memory), by their path in the tree."""

    def open_include(parent: LockText, target: str, where: str) -> LockText:
        found = tree_path(posixpath.dirname(parent.shown), target)
        if found is None:
            raise _outside(where, f"the tree {label}")
        data = files.get(found)
        if data is None:
            raise LockfileError(f"{where}: no such file in {label}", hint="fix the include's path")
        origin = f"{label}:{found}"
        return LockText(decode(data, origin), found, origin)

    return open_include
