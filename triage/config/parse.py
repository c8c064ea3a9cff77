"""deny.toml: parse (the standard library's tomllib: fast, strict), then validate into
`Config`, collecting every error with its key path."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

from triage.config import values
from triage.core.matching import normalize_name
from triage.core.policy import LINT_CODES
from triage.errors import ConfigError
from triage.models import (
    AdvisoriesConfig,
    Clarification,
    Config,
    GithubConfig,
    IgnoreRule,
    Level,
    LicenseException,
    LicensesConfig,
    LintCode,
    OrgConfig,
    ScanConfig,
    TrustConfig,
    TrustMode,
)


def _ignore_rules(v: values.Validator, entries: Any) -> tuple[IgnoreRule, ...]:
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
        advisory_id = v.get(
            table, here, "id", convert=values.string, expected="an advisory id", default=""
        )
        if not advisory_id:
            v.problem(f"{here}.id", "is required")
        package = v.get(
            table, here, "package", convert=values.string, expected="a package name", default=""
        )
        rules.append(
            IgnoreRule(
                id=advisory_id,
                index=index,
                package=normalize_name(package) if package else None,
                reason=v.get(
                    table, here, "reason", convert=values.string, expected="a string", default=None
                ),
                issue=v.get(
                    table,
                    here,
                    "issue",
                    convert=values.url,
                    expected="an http(s) URL",
                    default=None,
                ),
                expires=v.get(
                    table,
                    here,
                    "expires",
                    convert=values.date,
                    expected="a date (YYYY-MM-DD)",
                    default=None,
                ),
                justification=v.get(
                    table,
                    here,
                    "justification",
                    convert=values.justification,
                    expected=values.JUSTIFICATIONS,
                    default=None,
                ),
            )
        )
    return tuple(rules)


def _advisories(v: values.Validator, doc: Any) -> AdvisoriesConfig:
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
    severity_words = "one of " + ", ".join(values.SEVERITIES)
    level_words = "one of allow, warn, deny"
    return AdvisoriesConfig(
        sources=v.get(
            table,
            path,
            "sources",
            convert=values.string_list,
            expected="a list of strings",
            default=defaults.sources,
        ),
        maximum_db_staleness=v.get(
            table,
            path,
            "maximum-db-staleness",
            convert=values.duration,
            expected='an ISO 8601 duration such as "P7D"',
            default=defaults.maximum_db_staleness,
        ),
        stale_db=v.get(
            table,
            path,
            "stale-db",
            convert=values.level,
            expected=level_words,
            default=defaults.stale_db,
        ),
        severity_threshold=v.get(
            table,
            path,
            "severity-threshold",
            convert=values.severity,
            expected=severity_words,
            default=defaults.severity_threshold,
        ),
        unknown_severity=v.get(
            table,
            path,
            "unknown-severity",
            convert=values.severity,
            expected=severity_words,
            default=defaults.unknown_severity,
        ),
        unused_ignored_advisory=v.get(
            table,
            path,
            "unused-ignored-advisory",
            convert=values.level,
            expected=level_words,
            default=defaults.unused_ignored_advisory,
        ),
        unpinned=v.get(
            table,
            path,
            "unpinned",
            convert=values.level,
            expected=level_words,
            default=defaults.unpinned,
        ),
        ignore=_ignore_rules(v, table["ignore"]) if "ignore" in table else (),
        lints=_lints(v, table["lints"]) if "lints" in table else {},
    )


def _lints(v: values.Validator, doc: Any) -> dict[LintCode, Level]:
    """[advisories.lints]: a level per ledger lint code, over the defaults."""
    path = "advisories.lints"
    table = v.table(doc, path, tuple(LINT_CODES))
    levels = {}
    for code in table:
        if code in LINT_CODES:
            levels[LintCode(code)] = v.get(
                table,
                path,
                code,
                convert=values.level,
                expected="one of allow, warn, deny",
                default=Level.WARN,
            )
    return levels


def _trust(v: values.Validator, doc: Any) -> TrustConfig:
    table = v.table(doc, "trust", ("mode", "unsigned"))
    mode_words = "one of " + ", ".join(values.TRUST_MODES)
    return TrustConfig(
        mode=v.get(
            table,
            "trust",
            "mode",
            convert=lambda m: TrustMode(m) if m in values.TRUST_MODES else None,
            expected=mode_words,
            default=TrustMode.BASIC,
        ),
        unsigned=v.get(
            table,
            "trust",
            "unsigned",
            convert=values.level,
            expected="one of allow, warn, deny",
            default=Level.WARN,
        ),
    )


def _sla(v: values.Validator, doc: Any) -> dict[str, dt.timedelta]:
    table = v.table(doc, "sla", values.SLA_KEYS)
    result = Config().sla
    for key in values.SLA_KEYS:
        result[key] = v.get(
            table,
            "sla",
            key,
            convert=values.duration,
            expected=values.DURATION_WORDS,
            default=result[key],
        )
    return result


def _github(v: values.Validator, doc: Any) -> GithubConfig:
    table = v.table(doc, "github", ("repository", "labels"))
    repo = v.get(
        table,
        "github",
        "repository",
        convert=values.repository,
        expected='an "owner/name" repository',
        default=None,
    )
    labels = v.get(
        table,
        "github",
        "labels",
        convert=values.string_list,
        expected="a list of strings",
        default=GithubConfig().labels,
    )
    return GithubConfig(repository=repo, labels=labels)


_ABSENT: dict[str, Any] = {}  # a [licenses] table the file does not have
_LICENSE_LINTS = (
    LintCode.LICENSE_NOT_ALLOWED,
    LintCode.LICENSE_UNKNOWN,
    LintCode.LICENSE_EXCEPTION_UNUSED,
    LintCode.LICENSE_CLARIFY_UNUSED,
)


def _license_entries(
    v: values.Validator, doc: Any, path: str, *, keys: tuple[str, ...]
) -> list[Any]:
    if not isinstance(doc, list):
        v.problem(path, "must be an array of tables")
        return []
    return [(index, v.table(entry, f"{path}[{index}]", keys)) for index, entry in enumerate(doc)]


def _licenses(v: values.Validator, doc: Any) -> LicensesConfig:
    """[licenses]. SPDX ids and expressions are checked by the licenses reader (it alone
    holds the SPDX index); here, shapes and types."""
    path = "licenses"
    table = v.table(doc, path, ("allow", "exceptions", "clarify", "unlicensed", *_LICENSE_LINTS))
    exceptions = []
    for index, entry in _license_entries(
        v, table.get("exceptions", []), f"{path}.exceptions", keys=("name", "allow")
    ):
        here = f"{path}.exceptions[{index}]"
        name = v.get(
            entry, here, "name", convert=values.string, expected="a package name", default=""
        )
        if not name:
            v.problem(f"{here}.name", "is required")
        none: tuple[str, ...] = ()
        allow = v.get(
            entry,
            here,
            "allow",
            convert=values.string_list,
            expected="a list of SPDX ids",
            default=none,
        )
        exceptions.append(LicenseException(normalize_name(name) if name else "", allow, index))
    clarify = []
    keys = ("name", "version", "expression")
    for index, entry in _license_entries(v, table.get("clarify", []), f"{path}.clarify", keys=keys):
        here = f"{path}.clarify[{index}]"
        name = v.get(
            entry, here, "name", convert=values.string, expected="a package name", default=""
        )
        expression = v.get(
            entry,
            here,
            "expression",
            convert=values.string,
            expected="an SPDX expression",
            default="",
        )
        for key, value in (("name", name), ("expression", expression)):
            if not value:
                v.problem(f"{here}.{key}", "is required")
        version = v.get(
            entry,
            here,
            "version",
            convert=values.specifier,
            expected='a version specifier such as ">=2"',
            default="",
        )
        clarify.append(
            Clarification(normalize_name(name) if name else "", version, expression, index)
        )
    levels = "one of allow, warn, deny"
    return LicensesConfig(
        allow=v.get(
            table,
            path,
            "allow",
            convert=values.string_list,
            expected="a list of SPDX ids",
            default=LicensesConfig.allow,
        ),
        exceptions=tuple(exceptions),
        clarify=tuple(clarify),
        unlicensed=v.get(
            table, path, "unlicensed", convert=values.level, expected=levels, default=Level.DENY
        ),
        lints={
            LintCode(code): v.get(
                table, path, code, convert=values.level, expected=levels, default=Level.WARN
            )
            for code in _LICENSE_LINTS
            if code in table
        },
        enabled=isinstance(doc, dict) and doc is not _ABSENT,
    )


def _scan(v: values.Validator, doc: Any) -> ScanConfig:
    table = v.table(doc, "scan", ("include", "exclude"))
    globs = "a list of glob strings"
    return ScanConfig(
        include=v.get(
            table, "scan", "include", convert=values.string_list, expected=globs, default=()
        ),
        exclude=v.get(
            table, "scan", "exclude", convert=values.string_list, expected=globs, default=()
        ),
    )


def _org(v: values.Validator, doc: Any) -> OrgConfig:
    keys = ("include", "exclude", "forks", "archived", "default-policy", "issues", "concurrency")
    table = v.table(doc, "org", keys)
    globs = "a list of glob strings"
    per_repo: tuple[str | None] = (None,)
    home = v.get(
        table,
        "org",
        "issues",
        convert=values.issues_home,
        expected='"per-repo" or "central:ORG/REPO"',
        default=per_repo,
    )
    return OrgConfig(
        include=v.get(
            table, "org", "include", convert=values.string_list, expected=globs, default=("*",)
        ),
        exclude=v.get(
            table, "org", "exclude", convert=values.string_list, expected=globs, default=()
        ),
        forks=v.get(
            table, "org", "forks", convert=values.boolean, expected="true or false", default=False
        ),
        archived=v.get(
            table,
            "org",
            "archived",
            convert=values.boolean,
            expected="true or false",
            default=False,
        ),
        default_policy=v.get(
            table, "org", "default-policy", convert=values.string, expected="a path", default=None
        ),
        central=home[0],
        concurrency=v.get(
            table,
            "org",
            "concurrency",
            convert=values.positive,
            expected="a number from 1 to 64",
            default=8,
        ),
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
    v = values.Validator()
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
            schedule,
            "schedule",
            "audit",
            convert=values.string,
            expected="a cron expression",
            default="0 9 * * *",
        ),
        schedule_org_audit=v.get(
            schedule,
            "schedule",
            "org-audit",
            convert=values.string,
            expected="a cron expression",
            default=None,
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
