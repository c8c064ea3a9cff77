"""deny.toml: parse (the standard library's tomllib: fast, strict), then validate into
`Config`, collecting every error with its key path."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from typing import Any

from triage.config import values
from triage.core.matching import normalize_name
from triage.core.policy import LINT_CODES
from triage.errors import ConfigError
from triage.models import (
    PROJECT_STATUS,
    AdvisoriesConfig,
    Clarification,
    Config,
    FixConfig,
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
        read = v.at(table, here).get
        advisory_id = read("id", values.STRING.called("an advisory id"), "")
        if not advisory_id:
            v.problem(f"{here}.id", "is required")
        package = read("package", values.PACKAGE_NAME, "")
        rules.append(
            IgnoreRule(
                id=advisory_id,
                index=index,
                package=normalize_name(package) if package else None,
                reason=read("reason", values.STRING, None),
                issue=read("issue", values.URL, None),
                expires=read("expires", values.DATE, None),
                justification=read("justification", values.JUSTIFICATION, None),
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
        "malicious",
        "yanked",
        "project-status",
        "ignore",
        "lints",
    )
    table = v.table(doc, path, known)
    defaults = AdvisoriesConfig()
    read = v.at(table, path).get
    return AdvisoriesConfig(
        sources=read("sources", values.STRINGS, defaults.sources),
        maximum_db_staleness=read(
            "maximum-db-staleness", values.DURATION, defaults.maximum_db_staleness
        ),
        stale_db=read("stale-db", values.LEVEL, defaults.stale_db),
        severity_threshold=read("severity-threshold", values.SEVERITY, defaults.severity_threshold),
        unknown_severity=read("unknown-severity", values.SEVERITY, defaults.unknown_severity),
        unused_ignored_advisory=read(
            "unused-ignored-advisory", values.LEVEL, defaults.unused_ignored_advisory
        ),
        unpinned=read("unpinned", values.LEVEL, defaults.unpinned),
        malicious=read("malicious", values.LEVEL, defaults.malicious),
        yanked=read("yanked", values.LEVEL, defaults.yanked),
        project_status=_project_status(v, table["project-status"])
        if "project-status" in table
        else defaults.project_status,
        ignore=_ignore_rules(v, table["ignore"]) if "ignore" in table else (),
        lints=_lints(v, table["lints"]) if "lints" in table else {},
    )


def _project_status(v: values.Validator, doc: Any) -> dict[str, Level]:
    """[advisories.project-status]: a level per PEP 792 status, over the defaults."""
    path = "advisories.project-status"
    table = v.table(doc, path, tuple(PROJECT_STATUS))
    read = v.at(table, path).get
    return {status: read(status, values.LEVEL, level) for status, level in PROJECT_STATUS.items()}


def _lints(v: values.Validator, doc: Any) -> dict[LintCode, Level]:
    """[advisories.lints]: a level per ledger lint code, over the defaults."""
    path = "advisories.lints"
    table = v.table(doc, path, tuple(LINT_CODES))
    levels = {}
    for code in table:
        if code in LINT_CODES:
            levels[LintCode(code)] = v.at(table, path).get(code, values.LEVEL, Level.WARN)
    return levels


def _trust(v: values.Validator, doc: Any) -> TrustConfig:
    table = v.table(doc, "trust", ("mode", "unsigned"))
    read = v.at(table, "trust").get
    return TrustConfig(
        mode=read("mode", values.TRUST_MODE, TrustMode.BASIC),
        unsigned=read("unsigned", values.LEVEL, Level.WARN),
    )


def _sla(v: values.Validator, doc: Any) -> dict[str, dt.timedelta]:
    table = v.table(doc, "sla", values.SLA_KEYS)
    result = Config().sla
    for key in values.SLA_KEYS:
        result[key] = v.at(table, "sla").get(key, values.DURATION, result[key])
    return result


def _github(v: values.Validator, doc: Any) -> GithubConfig:
    table = v.table(doc, "github", ("repository", "labels"))
    read = v.at(table, "github").get
    repo = read("repository", values.REPOSITORY, None)
    labels = read("labels", values.STRINGS, GithubConfig().labels)
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
        read = v.at(entry, here).get
        name = read("name", values.PACKAGE_NAME, "")
        if not name:
            v.problem(f"{here}.name", "is required")
        none: tuple[str, ...] = ()
        allow = read("allow", values.SPDX_IDS, none)
        exceptions.append(LicenseException(normalize_name(name) if name else "", allow, index))
    clarify = []
    keys = ("name", "version", "expression")
    for index, entry in _license_entries(v, table.get("clarify", []), f"{path}.clarify", keys=keys):
        here = f"{path}.clarify[{index}]"
        read = v.at(entry, here).get
        name = read("name", values.PACKAGE_NAME, "")
        expression = read("expression", values.STRING.called("an SPDX expression"), "")
        for key, value in (("name", name), ("expression", expression)):
            if not value:
                v.problem(f"{here}.{key}", "is required")
        version = read("version", values.SPECIFIER, "")
        clarify.append(
            Clarification(normalize_name(name) if name else "", version, expression, index)
        )
    read = v.at(table, path).get
    return LicensesConfig(
        allow=read("allow", values.SPDX_IDS, LicensesConfig().allow),
        exceptions=tuple(exceptions),
        clarify=tuple(clarify),
        unlicensed=read("unlicensed", values.LEVEL, Level.DENY),
        lints={
            LintCode(code): read(code, values.LEVEL, Level.WARN)
            for code in _LICENSE_LINTS
            if code in table
        },
        enabled=isinstance(doc, dict) and doc is not _ABSENT,
    )


def _scan(v: values.Validator, doc: Any) -> ScanConfig:
    table = v.table(doc, "scan", ("include", "exclude"))
    read = v.at(table, "scan").get
    return ScanConfig(
        include=read("include", values.GLOBS, ()),
        exclude=read("exclude", values.GLOBS, ()),
    )


def _fix(v: values.Validator, doc: Any) -> FixConfig:
    table = v.table(doc, "fix", ("open-prs", "severity", "group"))
    read = v.at(table, "fix").get
    defaults = FixConfig()
    return FixConfig(
        open_prs=read("open-prs", values.BOOLEAN, defaults.open_prs),
        severity=read("severity", values.SEVERITY, defaults.severity),
        group=read("group", values.FIX_GROUP, defaults.group),
    )


def _org(v: values.Validator, doc: Any) -> OrgConfig:
    keys = ("include", "exclude", "forks", "archived", "default-policy", "issues", "concurrency")
    table = v.table(doc, "org", keys)
    per_repo: tuple[str | None] = (None,)
    read = v.at(table, "org").get
    home = read("issues", values.ISSUES_HOME, per_repo)
    return OrgConfig(
        include=read("include", values.GLOBS, ("*",)),
        exclude=read("exclude", values.GLOBS, ()),
        forks=read("forks", values.BOOLEAN, False),
        archived=read("archived", values.BOOLEAN, False),
        default_policy=read("default-policy", values.STRING.called("a path"), None),
        central=home[0],
        concurrency=read("concurrency", values.POSITIVE, 8),
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
        doc,
        "",
        ("advisories", "trust", "sla", "github", "schedule", "scan", "licenses", "org", "fix"),
    )
    schedule = v.table(doc.get("schedule", {}), "schedule", ("audit", "org-audit"))
    read = v.at(schedule, "schedule").get
    config = Config(
        path=path,
        advisories=_advisories(v, doc.get("advisories", {})),
        trust=_trust(v, doc.get("trust", {})),
        sla=_sla(v, doc.get("sla", {})),
        github=_github(v, doc.get("github", {})),
        schedule_audit=read("audit", values.CRON, "0 9 * * *"),
        schedule_org_audit=read("org-audit", values.CRON, None),
        scan=_scan(v, doc.get("scan", {})),
        licenses=_licenses(v, doc.get("licenses", _ABSENT)),
        org=_org(v, doc.get("org", {})),
        fix=_fix(v, doc.get("fix", {})),
    )
    if v.problems:
        raise ConfigError(path, v.problems)
    return config
