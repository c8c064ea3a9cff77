"""Which files are lockfiles: one rule for the working tree and for git trees (scan, audit and
diff see the same files), and the format a name means.

A file is discovered when its name follows the common conventions, case-insensitively:
`uv.lock`, `poetry.lock`, `Pipfile.lock`, `pylock.toml`, `pylock.<name>.toml`, and for
requirements `requirements*.txt`, `*requirements*.txt`, `requirements/*.txt` and
`requirements*/*.txt`. Folders that are hidden, tool state, test fixtures or virtualenvs
(they hold a `pyvenv.cfg`) are not entered. `[scan] include` adds files by glob, `exclude`
takes discovered ones out.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from triage.errors import LockfileError
from triage.lockfiles.formats import by_convention
from triage.models import ScanConfig

# Directories a repository walk never enters: tool state, virtualenvs, and test fixtures
# (which hold deliberately vulnerable lockfiles that are not the project's dependencies).
SKIPPED_DIRECTORIES = frozenset(
    {"node_modules", "__pycache__", "site-packages", "tests", "test", "testing", "fixtures"}
)
VENV_MARKER = "pyvenv.cfg"
CONVENTIONS = (
    "requirements*.txt, *requirements*.txt, requirements*/*.txt, pylock.toml, pylock.*.toml, "
    "uv.lock, poetry.lock, Pipfile.lock"
)


def skipped_directory(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRECTORIES


def _matches(relative: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(relative, glob) for glob in globs)


def select(paths: Iterable[str], scan: ScanConfig) -> list[str]:
    """The lockfiles among the files of a tree (paths relative to its top, `/`-separated)."""
    files = sorted(set(paths))
    venvs = {str(PurePosixPath(p).parent) for p in files if PurePosixPath(p).name == VENV_MARKER}
    found = []
    for path in files:
        relative = PurePosixPath(path)
        folders = [str(f) for f in relative.parents][:-1]  # every folder above it but the top
        hidden = any(skipped_directory(part) for part in relative.parts[:-1])
        in_venv = any(folder in venvs for folder in folders)
        discovered = not hidden and not in_venv and by_convention(relative)
        if (discovered or _matches(path, scan.include)) and not _matches(path, scan.exclude):
            found.append(path)
    return found


NO_SCAN_RULES = ScanConfig()


def discover(root: Path, scan: ScanConfig = NO_SCAN_RULES) -> list[Path]:
    """Lockfiles under the root of a working tree, by `select`'s rule. A link is followed
    inside the root and refused when it leads out (a pull request may commit a symlink to
    ~/.netrc): an installer would read what the scan cannot vouch for."""
    inside = root.resolve()
    relative: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if VENV_MARKER in filenames and here != root:
            dirnames[:] = []
        elif not scan.include:  # a folder `select` would skip holds nothing to find
            dirnames[:] = [d for d in dirnames if not skipped_directory(d)]
        top = here.relative_to(root)
        relative.extend((top / f).as_posix() for f in filenames)
    found = [root / path for path in select(relative, scan)]
    for path in found:
        if not path.resolve().is_relative_to(inside):
            raise LockfileError(
                f"{path}: a symbolic link leading out of {root}",
                hint="commit the lockfile itself, not a link to a file outside the repository",
            )
    return found
