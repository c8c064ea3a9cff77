"""deny.toml's values: the validator that walks the parsed document collecting every problem
with its key path, and one converter per kind of value (None: not that kind)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, TypeVar

from triage.models import Justification, Level, Severity, TrustMode, is_repository

T = TypeVar("T")

DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
LEVELS = {level.value: level for level in Level}
SEVERITIES = ("low", "medium", "high", "critical")
TRUST_MODES = tuple(mode.value for mode in TrustMode)
SLA_KEYS = ("critical", "high", "medium", "low", "unknown")


LONGEST_DURATION = dt.timedelta(days=100 * 366)
DURATION_WORDS = "an ISO 8601 duration of at most 100 years"


def parse_duration(text: str) -> dt.timedelta | None:
    """ISO 8601 durations in weeks, days, hours, minutes, seconds (years and months are vague)."""
    found = DURATION.match(text)
    if not found or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: int(v) for k, v in found.groupdict().items() if v}
    try:
        duration = dt.timedelta(**parts)
    except OverflowError:
        return None
    # Added to a date, anything longer would pass the calendar's end.
    return duration if duration <= LONGEST_DURATION else None


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

    def get(
        self,
        doc: dict[str, Any],
        path: str,
        key: str,
        *,
        convert: Callable[[Any], T | None],
        expected: str,
        default: T,
    ) -> T:
        if key not in doc:
            return default
        value = convert(doc[key])
        if value is None:
            self.problem(f"{path}.{key}", f"{doc[key]!r} is not {expected}")
            return default
        return value


def string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def level(value: Any) -> Level | None:
    return LEVELS.get(value) if isinstance(value, str) else None


def severity(value: Any) -> Severity | None:
    return Severity.parse(value) if value in SEVERITIES else None


def duration(value: Any) -> dt.timedelta | None:
    return parse_duration(value) if isinstance(value, str) else None


def string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def date(value: Any) -> dt.date | None:
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


JUSTIFICATIONS = "one of CycloneDX's justifications: " + ", ".join(Justification)


def justification(value: Any) -> Justification | None:
    return Justification(value) if value in Justification.__members__.values() else None


def url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+/\S*$", value):
        return value
    return None


def repository(value: Any) -> str | None:
    return value if isinstance(value, str) and is_repository(value) else None


def specifier(value: Any) -> str | None:
    """A PEP 440 specifier's text ("" for any version); checked when clarifications apply."""
    return value.strip() if isinstance(value, str) else None


def issues_home(value: Any) -> tuple[str | None] | None:
    """`per-repo`, or `central:ORG/REPO` (the one repository holding every issue)."""
    if value == "per-repo":
        return (None,)
    if isinstance(value, str) and value.startswith("central:"):
        repository = value.removeprefix("central:")
        if is_repository(repository):
            return (repository,)
    return None


def positive(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64
    return value if ok else None


def boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
