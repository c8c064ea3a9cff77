"""The lockfile formats: one registry entry per format, holding everything that differs
between them: the names it goes by and whether discovery finds it, its reader, how reports
name it, and which line pins a package (for SARIF's locations). A name no entry claims is
not a lockfile: there is no fallback reader.

Readers (and the parsers they need) are imported when a file must really be parsed: a scan
whose readings are all cached never loads them."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from msgspec import Struct

from triage.errors import LockfileError
from triage.lockfiles.source import Includes, LockText
from triage.models import LockfileContents, Package

TomlReader = Callable[[Mapping[str, Any], str, str], LockfileContents]
HINT = "regenerate the lockfile with its tool, or pass the right file with --lockfile"


class FormatId(StrEnum):
    """Stable names of the formats (cache keys carry them)."""

    REQUIREMENTS = "requirements"
    PYLOCK = "pylock"
    UV = "uv"
    POETRY = "poetry"
    PIPFILE = "pipfile"
    PYPROJECT = "pyproject"


class LockFormat(Struct, frozen=True):
    id: FormatId
    shown: str  # how reports name the format (scan JSON's `format`)
    claims: Callable[[str], bool]  # whether a file name (lowercased) is of this format
    convention: Callable[[PurePosixPath], bool]  # whether discovery finds this file
    read: Callable[[LockText, Includes], LockfileContents]
    table: str | None = None  # the `[[table]]` whose n-th header pins `table[n]`

    def pin_lines(self, text: str, packages: Iterable[Package]) -> dict[tuple[str, str, str], int]:
        """(lockfile, package, version) -> the line that pins it, where it can be told."""
        found: dict[tuple[str, str, str], int] = {}
        headers: list[int] | None = None
        lines = text.splitlines()
        for package in packages:
            line: int | None = None
            if package.location.startswith("line "):
                number = package.location.removeprefix("line ")
                line = int(number) if number.isdigit() else None
            elif self.table is not None and (place := _PLACE.match(package.location)):
                if headers is None:
                    headers = _headers(text, self.table)
                index = int(place["index"])
                line = headers[index] if index < len(headers) else None
            elif self.id is FormatId.PIPFILE and "." in package.location:
                section, _, name = package.location.partition(".")
                line = _pipfile_line(lines, section, name)
            if line is not None:
                found[(package.lockfile, package.name, package.version)] = line
        return found


_PLACE = re.compile(r"^(?P<array>[a-z-]+)\[(?P<index>\d+)\]$")


def _headers(text: str, array: str) -> list[int]:
    """Line numbers of each `[[array]]` table header, in order."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(array)}\s*\]\]\s*(#.*)?$")
    return [number for number, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def _pipfile_line(lines: list[str], section: str, name: str) -> int | None:
    opening = f"{json.dumps(section)}:"
    key = f"{json.dumps(name)}:"
    inside = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith(opening):
            inside = True
        elif inside and stripped.startswith(key):
            return number
    return None


def _toml(reader: Callable[[], TomlReader]) -> Callable[[LockText, Includes], LockfileContents]:
    """A TOML lock's reading: parsed with rtoml (Rust's toml crate reads InvokeAI's 1.8 MB
    uv.lock in 11 ms where the standard library's tomllib takes 184 ms; it is as strict:
    duplicate keys, bad escapes, nesting past 80 levels are errors, never a crash)."""

    def read(lock: LockText, includes: Includes) -> LockfileContents:
        import rtoml

        name = posixpath.basename(lock.shown)
        try:
            document = rtoml.loads(lock.text)
        except rtoml.TomlParsingError as exc:
            raise LockfileError(
                f"{lock.origin}: not valid TOML, so not a {name}: {exc}", hint=HINT
            ) from exc
        except (RecursionError, ValueError) as exc:  # numbers past any real lockfile's
            raise LockfileError(f"{lock.origin}: not a {name}: {exc}", hint=HINT) from exc
        return reader()(document, lock.origin, lock.shown)

    return read


def _requirements(lock: LockText, includes: Includes) -> LockfileContents:
    from triage.lockfiles.requirements import read_requirements

    return read_requirements(lock, includes)


def _pipfile(lock: LockText, includes: Includes) -> LockfileContents:
    from triage.lockfiles.pipfile import read_pipfile

    return read_pipfile(lock.text, lock.origin, lock.shown)


def _pylock() -> TomlReader:
    from triage.lockfiles.pylock import read_pylock

    return read_pylock


def _uv() -> TomlReader:
    from triage.lockfiles.uv import read_uv

    return read_uv


def _poetry() -> TomlReader:
    from triage.lockfiles.poetry import read_poetry

    return read_poetry


def _pyproject() -> TomlReader:
    from triage.lockfiles.pyproject import read_pyproject

    return read_pyproject


_PYLOCK_NAME = re.compile(r"(^|[_.-])pylock(\.[^./]+)?\.toml$")


def _is_pylock(name: str) -> bool:
    return bool(_PYLOCK_NAME.search(name)) or (
        name.startswith("pylock.") and name.endswith(".toml")
    )


def _requirements_by_convention(relative: PurePosixPath) -> bool:
    """requirements*.txt, *requirements*.txt, requirements/*.txt, requirements*/*.txt."""
    name = relative.name.lower()
    return name.endswith(".txt") and (
        "requirements" in name or relative.parent.name.lower().startswith("requirements")
    )


def _named(lock_name: str) -> Callable[[PurePosixPath], bool]:
    return lambda relative: relative.name.lower() == lock_name


FORMATS: tuple[LockFormat, ...] = (
    LockFormat(
        FormatId.UV,
        "uv.lock",
        lambda n: n.endswith("uv.lock"),
        _named("uv.lock"),
        _toml(_uv),
        table="package",
    ),
    LockFormat(
        FormatId.POETRY,
        "poetry.lock",
        lambda n: n.endswith("poetry.lock"),
        _named("poetry.lock"),
        _toml(_poetry),
        table="package",
    ),
    LockFormat(
        FormatId.PIPFILE,
        "Pipfile.lock",
        lambda n: n.endswith("pipfile.lock"),
        _named("pipfile.lock"),
        _pipfile,
    ),
    LockFormat(
        FormatId.PYLOCK,
        "pylock.toml",
        _is_pylock,
        lambda relative: _is_pylock(relative.name.lower()),
        _toml(_pylock),
        table="packages",
    ),
    LockFormat(
        FormatId.REQUIREMENTS,
        "requirements",
        lambda n: n.endswith(".txt"),
        _requirements_by_convention,
        _requirements,
    ),
    # Never discovered: only named with --lockfile, for the exact pins it declares.
    LockFormat(
        FormatId.PYPROJECT,
        "pyproject.toml",
        lambda n: n.endswith("pyproject.toml"),
        lambda relative: False,
        _toml(_pyproject),
    ),
)
BY_ID = {f.id: f for f in FORMATS}


def lockfile_format(path: PurePosixPath | Any) -> LockFormat | None:
    """The format a file's name says, or None: not a lockfile name triage reads."""
    name = path.name.lower()
    if name.startswith("pylock.") and not name.endswith(".toml"):
        return None  # a pylock name of no format (pylock.txt is not a requirements file)
    return next((entry for entry in FORMATS if entry.claims(name)), None)


def by_convention(relative: PurePosixPath) -> bool:
    return any(entry.convention(relative) for entry in FORMATS)
