"""Which files are lockfiles: the names discovery picks up in a working tree or a git tree,
and the format a name means."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath, PurePosixPath

# Directories a repository walk never enters: tool state, virtualenvs, and test fixtures
# (which hold deliberately vulnerable lockfiles that are not the project's dependencies).
SKIPPED_DIRECTORIES = frozenset(
    {"node_modules", "__pycache__", "site-packages", "tests", "test", "testing", "fixtures"}
)
_PYLOCK_NAME = re.compile(r"(^|[_.-])pylock(\.[^./]+)?\.toml$")


def lockfile_format(path: Path) -> str | None:
    name = path.name
    if name.endswith("uv.lock"):
        return "uv"
    if name.endswith("poetry.lock"):
        return "poetry"
    if name.endswith("Pipfile.lock"):
        return "pipfile"
    if _PYLOCK_NAME.search(name) or name.startswith("pylock."):
        return "pylock" if name.endswith(".toml") else None
    if name.endswith(".txt"):
        return "requirements"
    if name.endswith("pyproject.toml"):
        return "pyproject"
    return None


def _discoverable(path: PurePath) -> bool:
    name = path.name
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml"):
        return True
    if name.startswith("pylock.") and name.endswith(".toml"):
        return True
    if name.endswith(".txt"):
        return name.startswith("requirements") or path.parent.name == "requirements"
    return False


def _skipped_directory(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRECTORIES


def is_lockfile_path(relative: PurePosixPath) -> bool:
    """Discovery's rule for a path inside a git tree (there is no pyvenv.cfg to look at)."""
    return _discoverable(relative) and not any(_skipped_directory(p) for p in relative.parts[:-1])


def discover(root: Path) -> list[Path]:
    """Lockfiles under the repository root, skipping hidden, virtualenv and fixture folders,
    and links that lead out of the root (a pull request may commit a symlink to ~/.netrc)."""
    inside = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _skipped_directory(d) and not (here / d / "pyvenv.cfg").exists()
        )
        found.extend(
            here / f
            for f in sorted(filenames)
            if _discoverable(here / f) and (here / f).resolve().is_relative_to(inside)
        )
    return found
