"""deny.toml's [advisories] rules applied to findings; `now` is always a parameter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

from triage.models import (
    AdvisoriesConfig,
    AssessedFinding,
    Diagnostic,
    Finding,
    IgnoreRule,
    Level,
    LintCode,
    Severity,
    Status,
    Unpinned,
)

# The ledger lints whose level [advisories.lints] may set, with their defaults. An ignore that
# cannot be justified or traced fails; one that is merely old or closing is a warning.
LINT_CODES: Mapping[LintCode, Level] = {
    LintCode.IGNORE_MISSING_REASON: Level.DENY,
    LintCode.IGNORE_MISSING_ISSUE: Level.DENY,
    LintCode.IGNORE_EXPIRED: Level.WARN,
    LintCode.IGNORE_EXPIRING: Level.WARN,
    LintCode.UNKNOWN_ADVISORY: Level.DENY,
    LintCode.IGNORE_ISSUE_CLOSED: Level.WARN,
    LintCode.IGNORED_MALWARE: Level.DENY,
}
EXPIRING_WITHIN = dt.timedelta(days=7)


def malware_response(package: str) -> str:
    """What to do about malware: never an upgrade (every version of it may be the attack)."""
    return (
        f"remove {package} (do not upgrade it), treat every environment that installed it as "
        "compromised, and rotate the credentials those environments held"
    )


def index_level(kind: str, config: AdvisoriesConfig) -> Level:
    """The level of what the index says of a release: a yanked file by `[advisories] yanked`,
    a project status by `[advisories.project-status]` (one PEP 792 does not name yet: warn)."""
    if kind == "yanked":
        return config.yanked
    return config.project_status.get(kind, Level.WARN)


def finding_kind(finding: Finding) -> str:
    """`malicious` or `vulnerability`: what every output calls the finding."""
    return "malicious" if finding.malicious else "vulnerability"


def lint_level(config: AdvisoriesConfig, code: LintCode) -> Level:
    return config.lints.get(code, LINT_CODES[code])


def effective_severity(severity: Severity, config: AdvisoriesConfig) -> Severity:
    return config.unknown_severity if severity is Severity.UNKNOWN else severity


def ignore_applies(rule: IgnoreRule, finding: Finding) -> bool:
    """By any alias of the group, and only the named package when one is given."""
    if rule.package is not None and rule.package != finding.package:
        return False
    return rule.id in finding.all_ids()


def is_expired(rule: IgnoreRule, today: dt.date) -> bool:
    return rule.expires is not None and today > rule.expires


def assess(
    finding: Finding, config: AdvisoriesConfig, today: dt.date
) -> tuple[AssessedFinding, list[IgnoreRule]]:
    """The finding's status and the rules that matched it (used, even when expired)."""
    matching = [rule for rule in config.ignore if ignore_applies(rule, finding)]
    standing = [rule for rule in matching if not is_expired(rule, today)]
    if standing:
        status, rule = Status.IGNORED, standing[0]
    elif matching:
        expiries = [r.expires for r in matching if r.expires is not None]
        status = Status.IGNORE_EXPIRED
        rule = next(r for r in matching if r.expires == max(expiries))
    else:
        status, rule = Status.ACTIVE, None
    if finding.malicious:  # its own level, whatever the threshold
        severe = config.malicious is Level.DENY
    else:
        severe = (
            effective_severity(finding.severity, config).value >= config.severity_threshold.value
        )
    fails = status is not Status.IGNORED and severe
    return AssessedFinding(finding, status, rule, fails), matching


def data_age_days(newest_modified: dt.datetime | None, now: dt.datetime) -> int | None:
    if newest_modified is None:
        return None
    return max(0, (now - newest_modified).days)


def shortlist(ids: Sequence[str], shown: int = 6) -> str:
    """The first few of a long list of ids and how many more (JSON keeps them all): a bare
    `django` is possibly affected by a hundred advisories, which no line should spell out."""
    if len(ids) <= shown + 1:
        return ", ".join(ids)
    return f"{', '.join(ids[:shown])} and {len(ids) - shown} more"


def apply_policy(
    findings: Sequence[Finding],
    config: AdvisoriesConfig,
    now: dt.datetime,
    *,
    newest_modified: dt.datetime | None,
    unpinned: Sequence[Unpinned] = (),
) -> tuple[list[AssessedFinding], list[IgnoreRule], list[Diagnostic]]:
    """Statuses for every finding, the ignores that matched nothing, and the diagnostics
    (among them `[advisories] unpinned` for requirements that admit an affected version)."""
    today = now.date()
    assessed: list[AssessedFinding] = []
    used: set[int] = set()
    for finding in findings:
        result, matching = assess(finding, config, today)
        assessed.append(result)
        used.update(rule.index for rule in matching)

    unused = [rule for rule in config.ignore if rule.index not in used]
    diagnostics: list[Diagnostic] = [
        _lint(
            config,
            LintCode.IGNORED_MALWARE,
            item.ignore,
            what=f"accepts malware in {item.finding.package}: remove the package instead",
        )
        for item in assessed
        if item.finding.malicious and item.status is Status.IGNORED and item.ignore is not None
    ]
    for rule in config.ignore:
        if not rule.reason:
            diagnostics.append(
                _lint(config, LintCode.IGNORE_MISSING_REASON, rule, what="gives no reason")
            )
        if not rule.issue:
            diagnostics.append(
                _lint(config, LintCode.IGNORE_MISSING_ISSUE, rule, what="names no tracking issue")
            )
    diagnostics = [d for d in diagnostics if d.level is not Level.ALLOW]
    if config.unused_ignored_advisory is not Level.ALLOW:
        diagnostics.extend(
            Diagnostic(
                LintCode.UNUSED_IGNORED_ADVISORY,
                config.unused_ignored_advisory,
                f"advisories.ignore[{rule.index}] ({rule.id}) matches no finding",
                rule,
            )
            for rule in unused
        )
    if config.unpinned is not Level.ALLOW:
        diagnostics.extend(
            Diagnostic(
                LintCode.UNPINNED,
                config.unpinned,
                f"{item.lockfile}:{item.location}: {item.name} is not pinned "
                f"({item.specifier or 'any version'}) and admits versions affected by "
                f"{shortlist(item.possibly_affected)}; pin it",
            )
            for item in unpinned
            if item.possibly_affected
        )
        diagnostics.extend(
            Diagnostic(
                LintCode.UNPINNED,
                config.unpinned,
                f"{item.lockfile}:{item.location}: {item.name}: which project it installs "
                "cannot be told from the file, so it was not checked; write it out",
            )
            for item in unpinned
            if item.project_unknown
        )
    if (
        newest_modified is not None
        and now - newest_modified > config.maximum_db_staleness
        and config.stale_db is not Level.ALLOW
    ):
        diagnostics.append(
            Diagnostic(
                LintCode.STALE_DB,
                config.stale_db,
                f"advisory data is {data_age_days(newest_modified, now)} days old (newest record "
                f"modified {newest_modified.date().isoformat()}); maximum-db-staleness is "
                f"{config.maximum_db_staleness.days} days; run `triage db sync`",
            )
        )
    return assessed, unused, diagnostics


def _lint(config: AdvisoriesConfig, code: LintCode, rule: IgnoreRule, *, what: str) -> Diagnostic:
    message = f"advisories.ignore[{rule.index}] ({rule.id}) {what}"
    return Diagnostic(code, lint_level(config, code), message, rule)


def ledger_lints(
    config: AdvisoriesConfig,
    diagnostics: Sequence[Diagnostic],
    today: dt.date,
    *,
    known_ids: Collection[str],
    closed_issues: Collection[str],
) -> list[Diagnostic]:
    """`triage policy check`: the scan's ledger diagnostics (missing reason or issue, unused)
    plus expired, expiring, unknown ids and closed tracking issues. An unknown id is reported
    as such and not also as unused: it can match nothing."""
    unknown = [rule for rule in config.ignore if rule.id and rule.id not in known_ids]
    unknown_indices = {rule.index for rule in unknown}
    found = [
        d
        for d in diagnostics
        if d.ignore is not None
        and not (d.code == LintCode.UNUSED_IGNORED_ADVISORY and d.ignore.index in unknown_indices)
    ]
    for rule in config.ignore:
        if rule.expires is not None and today > rule.expires:
            found.append(
                _lint(
                    config,
                    LintCode.IGNORE_EXPIRED,
                    rule,
                    what=f"expired on {rule.expires.isoformat()}",
                )
            )
        elif rule.expires is not None and rule.expires - today <= EXPIRING_WITHIN:
            days = (rule.expires - today).days
            found.append(
                _lint(
                    config,
                    LintCode.IGNORE_EXPIRING,
                    rule,
                    what=f"expires on {rule.expires.isoformat()}, in {days} day(s)",
                )
            )
        if rule.issue and rule.issue in closed_issues:
            found.append(
                _lint(
                    config,
                    LintCode.IGNORE_ISSUE_CLOSED,
                    rule,
                    what=f"still stands, but its tracking issue {rule.issue} is closed",
                )
            )
    found.extend(
        _lint(
            config,
            LintCode.UNKNOWN_ADVISORY,
            rule,
            what="is not an advisory id or alias in the database",
        )
        for rule in unknown
    )
    return sorted(
        (d for d in found if d.level is not Level.ALLOW),
        key=lambda d: (d.ignore.index if d.ignore else -1, d.code),
    )
