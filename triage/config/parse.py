"""deny.toml: parse (the standard library's tomllib: fast, strict), then validate into
`Config`, collecting every error with its key path."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from triage.core.matching import normalize_name
from triage.core.policy import LINT_CODES
from triage.errors import ConfigError
from triage.models import (
    AdvisoriesConfig,
    Clarification,
    Config,
    GithubConfig,
    IgnoreRule,
    Justification,
    Level,
    LicenseException,
    LicensesConfig,
    LintCode,
    OrgConfig,
    ScanConfig,
    Severity,
    TrustConfig,
    TrustMode,
)

T = TypeVar("T")

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_LEVELS = {level.value: level for level in Level}
_SEVERITIES = ("low", "medium", "high", "critical")
_TRUST_MODES = tuple(mode.value for mode in TrustMode)
_SLA_KEYS = ("critical", "high", "medium", "low", "unknown")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


LONGEST_DURATION = dt.timedelta(days=100 * 366)
DURATION_WORDS = "an ISO 8601 duration of at most 100 years"


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


class _Validator:
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


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _level(value: Any) -> Level | None:
    return _LEVELS.get(value) if isinstance(value, str) else None


def _severity(value: Any) -> Severity | None:
    return Severity.parse(value) if value in _SEVERITIES else None


def _duration(value: Any) -> dt.timedelta | None:
    return parse_duration(value) if isinstance(value, str) else None


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


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


JUSTIFICATIONS = "one of CycloneDX's justifications: " + ", ".join(Justification)


def _justification(value: Any) -> Justification | None:
    return Justification(value) if value in Justification.__members__.values() else None


def _url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+/\S*$", value):
        return value
    return None


def _ignore_rules(v: _Validator, entries: Any) -> tuple[IgnoreRule, ...]:
    path = "advisories.ignore"
    if not isinstance(entries, list):
        v.problem(path, "must be an array of ids or { id, reason, ... } tables")
        return ()
    rules = []
    for index, entry in enumerate(entries):
        here = f"{path}[{index}]"
        if isinstance(entry, str):
            rules.append(IgnoreRule(id=entry, index=index))
            continue
        table = v.table(
            entry, here, ("id", "package", "reason", "issue", "expires", "justification")
        )
        if not table:
            continue
        advisory_id = v.get(table, here, "id", _string, "an advisory id", "")
        if not advisory_id:
            v.problem(f"{here}.id", "is required")
        package = v.get(table, here, "package", _string, "a package name", "")
        rules.append(
            IgnoreRule(
                id=advisory_id,
                index=index,
                package=normalize_name(package) if package else None,
                reason=v.get(table, here, "reason", _string, "a string", None),
                issue=v.get(table, here, "issue", _url, "an http(s) URL", None),
                expires=v.get(table, here, "expires", _date, "a date (YYYY-MM-DD)", None),
                justification=v.get(
                    table, here, "justification", _justification, JUSTIFICATIONS, None
                ),
            )
        )
    return tuple(rules)


def _advisories(v: _Validator, doc: Any) -> AdvisoriesConfig:
    path = "advisories"
    known = (
        "sources",
        "maximum-db-staleness",
        "stale-db",
        "severity-threshold",
        "unknown-severity",
        "unused-ignored-advisory",
        "unpinned",
        "ignore",
        "lints",
    )
    table = v.table(doc, path, known)
    defaults = AdvisoriesConfig()
    severity_words = "one of " + ", ".join(_SEVERITIES)
    level_words = "one of allow, warn, deny"
    return AdvisoriesConfig(
        sources=v.get(table, path, "sources", _string_list, "a list of strings", defaults.sources),
        maximum_db_staleness=v.get(
            table,
            path,
            "maximum-db-staleness",
            _duration,
            'an ISO 8601 duration such as "P7D"',
            defaults.maximum_db_staleness,
        ),
        stale_db=v.get(table, path, "stale-db", _level, level_words, defaults.stale_db),
        severity_threshold=v.get(
            table,
            path,
            "severity-threshold",
            _severity,
            severity_words,
            defaults.severity_threshold,
        ),
        unknown_severity=v.get(
            table, path, "unknown-severity", _severity, severity_words, defaults.unknown_severity
        ),
        unused_ignored_advisory=v.get(
            table,
            path,
            "unused-ignored-advisory",
            _level,
            level_words,
            defaults.unused_ignored_advisory,
        ),
        unpinned=v.get(table, path, "unpinned", _level, level_words, defaults.unpinned),
        ignore=_ignore_rules(v, table["ignore"]) if "ignore" in table else (),
        lints=_lints(v, table["lints"]) if "lints" in table else {},
    )


def _lints(v: _Validator, doc: Any) -> dict[LintCode, Level]:
    """[advisories.lints]: a level per ledger lint code, over the defaults."""
    path = "advisories.lints"
    table = v.table(doc, path, tuple(LINT_CODES))
    levels = {}
    for code in table:
        if code in LINT_CODES:
            levels[LintCode(code)] = v.get(
                table, path, code, _level, "one of allow, warn, deny", Level.WARN
            )
    return levels


def _trust(v: _Validator, doc: Any) -> TrustConfig:
    table = v.table(doc, "trust", ("mode", "unsigned"))
    mode_words = "one of " + ", ".join(_TRUST_MODES)
    return TrustConfig(
        mode=v.get(
            table,
            "trust",
            "mode",
            lambda m: TrustMode(m) if m in _TRUST_MODES else None,
            mode_words,
            TrustMode.BASIC,
        ),
        unsigned=v.get(table, "trust", "unsigned", _level, "one of allow, warn, deny", Level.WARN),
    )


def _sla(v: _Validator, doc: Any) -> dict[str, dt.timedelta]:
    table = v.table(doc, "sla", _SLA_KEYS)
    result = Config().sla
    for key in _SLA_KEYS:
        result[key] = v.get(table, "sla", key, _duration, DURATION_WORDS, result[key])
    return result


def _github(v: _Validator, doc: Any) -> GithubConfig:
    table = v.table(doc, "github", ("repository", "labels"))
    repo = v.get(
        table,
        "github",
        "repository",
        lambda r: r if isinstance(r, str) and _REPOSITORY.match(r) else None,
        'an "owner/name" repository',
        None,
    )
    labels = v.get(
        table, "github", "labels", _string_list, "a list of strings", GithubConfig().labels
    )
    return GithubConfig(repository=repo, labels=labels)


_ABSENT: dict[str, Any] = {}  # a [licenses] table the file does not have
_LICENSE_LINTS = (
    LintCode.LICENSE_NOT_ALLOWED,
    LintCode.LICENSE_UNKNOWN,
    LintCode.LICENSE_EXCEPTION_UNUSED,
    LintCode.LICENSE_CLARIFY_UNUSED,
)


def _specifier(value: Any) -> str | None:
    """A PEP 440 specifier's text ("" for any version); checked when clarifications apply."""
    return value.strip() if isinstance(value, str) else None


def _license_entries(v: _Validator, doc: Any, path: str, keys: tuple[str, ...]) -> list[Any]:
    if not isinstance(doc, list):
        v.problem(path, "must be an array of tables")
        return []
    return [(index, v.table(entry, f"{path}[{index}]", keys)) for index, entry in enumerate(doc)]


def _licenses(v: _Validator, doc: Any) -> LicensesConfig:
    """[licenses]. SPDX ids and expressions are checked by the licenses reader (it alone
    holds the SPDX index); here, shapes and types."""
    path = "licenses"
    table = v.table(doc, path, ("allow", "exceptions", "clarify", "unlicensed", *_LICENSE_LINTS))
    exceptions = []
    for index, entry in _license_entries(
        v, table.get("exceptions", []), f"{path}.exceptions", ("name", "allow")
    ):
        here = f"{path}.exceptions[{index}]"
        name = v.get(entry, here, "name", _string, "a package name", "")
        if not name:
            v.problem(f"{here}.name", "is required")
        none: tuple[str, ...] = ()
        allow = v.get(entry, here, "allow", _string_list, "a list of SPDX ids", none)
        exceptions.append(LicenseException(normalize_name(name) if name else "", allow, index))
    clarify = []
    keys = ("name", "version", "expression")
    for index, entry in _license_entries(v, table.get("clarify", []), f"{path}.clarify", keys):
        here = f"{path}.clarify[{index}]"
        name = v.get(entry, here, "name", _string, "a package name", "")
        expression = v.get(entry, here, "expression", _string, "an SPDX expression", "")
        for key, value in (("name", name), ("expression", expression)):
            if not value:
                v.problem(f"{here}.{key}", "is required")
        version = v.get(entry, here, "version", _specifier, 'a version specifier such as ">=2"', "")
        clarify.append(
            Clarification(normalize_name(name) if name else "", version, expression, index)
        )
    levels = "one of allow, warn, deny"
    return LicensesConfig(
        allow=v.get(table, path, "allow", _string_list, "a list of SPDX ids", LicensesConfig.allow),
        exceptions=tuple(exceptions),
        clarify=tuple(clarify),
        unlicensed=v.get(table, path, "unlicensed", _level, levels, Level.DENY),
        lints={
            LintCode(code): v.get(table, path, code, _level, levels, Level.WARN)
            for code in _LICENSE_LINTS
            if code in table
        },
        enabled=isinstance(doc, dict) and doc is not _ABSENT,
    )


def _scan(v: _Validator, doc: Any) -> ScanConfig:
    table = v.table(doc, "scan", ("include", "exclude"))
    globs = "a list of glob strings"
    return ScanConfig(
        include=v.get(table, "scan", "include", _string_list, globs, ()),
        exclude=v.get(table, "scan", "exclude", _string_list, globs, ()),
    )


_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


def _issues_home(value: Any) -> tuple[str | None] | None:
    """`per-repo`, or `central:ORG/REPO` (the one repository holding every issue)."""
    if value == "per-repo":
        return (None,)
    if isinstance(value, str) and value.startswith("central:"):
        repository = value.removeprefix("central:")
        if _REPOSITORY.fullmatch(repository):
            return (repository,)
    return None


def _positive(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64
    return value if ok else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _org(v: _Validator, doc: Any) -> OrgConfig:
    keys = ("include", "exclude", "forks", "archived", "default-policy", "issues", "concurrency")
    table = v.table(doc, "org", keys)
    globs = "a list of glob strings"
    per_repo: tuple[str | None] = (None,)
    home = v.get(table, "org", "issues", _issues_home, '"per-repo" or "central:ORG/REPO"', per_repo)
    return OrgConfig(
        include=v.get(table, "org", "include", _string_list, globs, ("*",)),
        exclude=v.get(table, "org", "exclude", _string_list, globs, ()),
        forks=v.get(table, "org", "forks", _boolean, "true or false", False),
        archived=v.get(table, "org", "archived", _boolean, "true or false", False),
        default_policy=v.get(table, "org", "default-policy", _string, "a path", None),
        central=home[0],
        concurrency=v.get(table, "org", "concurrency", _positive, "a number from 1 to 64", 8),
    )


_DATE_LIKE = re.compile(r"(?<![\w\"'.-])(\d{4})-(\d{2})-(\d{2})(?![\w:.-])")


def _impossible_dates(text: str) -> list[str]:
    """TOML reads `2026-12-32` as no date at all and then complains of what follows it (an
    unclosed table): name the date, with its line, before TOML's own words."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for match in _DATE_LIKE.finditer(code):
            try:
                dt.date(*(int(part) for part in match.groups()))
            except ValueError:
                found.append(
                    f"line {number}: {match.group()} is not a date of the calendar "
                    "(write YYYY-MM-DD, e.g. 2027-01-31)"
                )
    return found


def parse_config(text: str, path: str) -> Config:
    """Parse deny.toml text; raise ConfigError listing every problem, never fall back silently."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [*_impossible_dates(text), f"not valid TOML: {exc}"]) from exc
    except (RecursionError, ValueError) as exc:  # nesting or numbers past any real file's
        raise ConfigError(path, [f"not a deny.toml triage reads: {exc}"]) from exc
    v = _Validator()
    v.table(
        doc, "", ("advisories", "trust", "sla", "github", "schedule", "scan", "licenses", "org")
    )
    schedule = v.table(doc.get("schedule", {}), "schedule", ("audit", "org-audit"))
    config = Config(
        path=path,
        advisories=_advisories(v, doc.get("advisories", {})),
        trust=_trust(v, doc.get("trust", {})),
        sla=_sla(v, doc.get("sla", {})),
        github=_github(v, doc.get("github", {})),
        schedule_audit=v.get(
            schedule, "schedule", "audit", _string, "a cron expression", "0 9 * * *"
        ),
        schedule_org_audit=v.get(
            schedule, "schedule", "org-audit", _string, "a cron expression", None
        ),
        scan=_scan(v, doc.get("scan", {})),
        licenses=_licenses(v, doc.get("licenses", _ABSENT)),
        org=_org(v, doc.get("org", {})),
    )
    if v.problems:
        raise ConfigError(path, v.problems)
    return config


def load_config(path: Path, *, required: bool) -> Config:
    """Read deny.toml; an absent file means all defaults, unless the user named it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(
                str(path),
                ["file not found (named with --config)"],
                hint="check the path, or leave --config out to use ./deny.toml (all defaults "
                "when there is none)",
            ) from None
        return Config(path=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc}"]) from exc
    return parse_config(text, str(path))
