"""The line of a lockfile that pins each package, for reports that point into the file
(SARIF). Readers know a package by its place in the document (`package[3]`, `default.flask`,
`line 12`); this finds that place's line in the text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from triage.models import Package

_TABLE_HEADERS = {"uv": "package", "poetry": "package", "pylock": "packages"}
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


def pin_lines(kind: str, text: str, packages: Iterable[Package]) -> dict[tuple[str, str, str], int]:
    """(lockfile, package, version) -> line, for the packages whose line can be told."""
    found: dict[tuple[str, str, str], int] = {}
    headers: list[int] | None = None
    lines = text.splitlines()
    for package in packages:
        key = (package.lockfile, package.name, package.version)
        line: int | None = None
        if package.location.startswith("line "):
            number = package.location.removeprefix("line ")
            line = int(number) if number.isdigit() else None
        elif kind in _TABLE_HEADERS and (place := _PLACE.match(package.location)):
            if headers is None:
                headers = _headers(text, _TABLE_HEADERS[kind])
            index = int(place["index"])
            line = headers[index] if index < len(headers) else None
        elif kind == "pipfile" and "." in package.location:
            section, _, name = package.location.partition(".")
            line = _pipfile_line(lines, section, name)
        if line is not None:
            found[key] = line
    return found
