"""deny.toml's values: the validator that walks the parsed document collecting every problem
with its key path, and the kinds of value a key takes (how each is read, and how a problem
names what was expected)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from msgspec import Struct

from triage.models import FixGroup, Justification, Level, Severity, TrustMode, is_repository

T = TypeVar("T")
KindOf = TypeVar("KindOf", covariant=True)

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_LEVELS = {level.value: level for level in Level}
SEVERITIES = ("low", "medium", "high", "critical")
SLA_KEYS = ("critical", "high", "medium", "low", "unknown")
LONGEST_DURATION = dt.timedelta(days=100 * 366)


def parse_duration(text: str) -> dt.timedelta | None:
    """ISO 8601 durations in weeks, days, hours, minutes, seconds (years and months are vague)."""
    found = _DURATION.match(text)
    if not found or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: int(v) for k, v in found.groupdict().items() if v}
    try:
        duration = dt.timedelta(**parts)
    except OverflowError:
        return None
    # Added to a date, anything longer would pass the calendar's end.
    return duration if duration <= LONGEST_DURATION else None


class Kind(Struct, Generic[KindOf], frozen=True):
    """A kind of value: `read` gives it, or None when the value is not of this kind; `words`
    say what was expected."""

    read: Callable[[Any], KindOf | None]
    words: str

    def called(self, words: str) -> Kind[KindOf]:
        """The same kind, named for the key it is read for."""
        return Kind(self.read, words)


class Validator:
    """Walks the parsed document; every problem is recorded with its key path, none is fatal."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, doc: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(doc, dict):
            self.problem(path, f"must be a table, found {type(doc).__name__}")
            return {}
        for key in doc:
            if key not in allowed:
                self.problem(
                    f"{path}.{key}" if path else key,
                    f"unknown key (known keys: {', '.join(allowed)})",
                )
        return doc

    def at(self, doc: dict[str, Any], path: str) -> Section:
        """The table `doc` found at `path`, to read its keys from."""
        return Section(self, doc, path)


class Section(Struct, frozen=True):
    """A table of the document, read key by key; a key of the wrong kind is a problem (named
    with its path) and reads as `default`."""

    validator: Validator
    doc: dict[str, Any]
    path: str

    def get(self, key: str, kind: Kind[T], default: T) -> T:
        if key not in self.doc:
            return default
        value = kind.read(self.doc[key])
        if value is None:
            self.validator.problem(f"{self.path}.{key}", f"{self.doc[key]!r} is not {kind.words}")
            return default
        return value


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _issues_home(value: Any) -> tuple[str | None] | None:
    """`per-repo`, or `central:ORG/REPO` (the one repository holding every issue)."""
    if value == "per-repo":
        return (None,)
    if isinstance(value, str) and value.startswith("central:"):
        repository = value.removeprefix("central:")
        if is_repository(repository):
            return (repository,)
    return None


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+/\S*$", value):
        return value
    return None


def _positive(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64
    return value if ok else None


STRING = Kind(lambda v: v if isinstance(v, str) else None, "a string")
PACKAGE_NAME = STRING.called("a package name")
CRON = STRING.called("a cron expression")
STRINGS = Kind(_string_list, "a list of strings")
GLOBS = STRINGS.called("a list of glob strings")
SPDX_IDS = STRINGS.called("a list of SPDX ids")
BOOLEAN = Kind(lambda v: v if isinstance(v, bool) else None, "true or false")
LEVEL = Kind(lambda v: _LEVELS.get(v) if isinstance(v, str) else None, "one of allow, warn, deny")
SEVERITY = Kind(
    lambda v: Severity.parse(v) if v in SEVERITIES else None, "one of " + ", ".join(SEVERITIES)
)
FIX_GROUP = Kind(
    lambda v: FixGroup(v) if v in FixGroup.__members__.values() else None, '"package" or "finding"'
)
TRUST_MODE = Kind(
    lambda v: TrustMode(v) if v in TrustMode.__members__.values() else None,
    "one of " + ", ".join(TrustMode),
)
DURATION = Kind(
    lambda v: parse_duration(v) if isinstance(v, str) else None,
    'an ISO 8601 duration of at most 100 years, such as "P7D"',
)
DATE = Kind(_date, "a date (YYYY-MM-DD)")
URL = Kind(_url, "an http(s) URL")
JUSTIFICATION = Kind(
    lambda v: Justification(v) if v in Justification.__members__.values() else None,
    "one of CycloneDX's justifications: " + ", ".join(Justification),
)
REPOSITORY = Kind(
    lambda v: v if isinstance(v, str) and is_repository(v) else None, 'an "owner/name" repository'
)
# A PEP 440 specifier's text ("" for any version); checked when clarifications apply.
SPECIFIER = Kind(
    lambda v: v.strip() if isinstance(v, str) else None, 'a version specifier such as ">=2"'
)
ISSUES_HOME = Kind(_issues_home, '"per-repo" or "central:ORG/REPO"')
POSITIVE = Kind(_positive, "a number from 1 to 64")
