"""Policy (pure): ignores by any alias, package scope, expiry, threshold, unused, staleness."""

from __future__ import annotations

import datetime as dt

from triage.core.policy import apply_policy
from triage.models import (
    AdvisoriesConfig,
    Finding,
    FindingKey,
    IgnoreRule,
    Level,
    Severity,
    Status,
)

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
FRESH = NOW - dt.timedelta(days=1)


def finding(package: str = "accesscontrol", severity: Severity = Severity.UNKNOWN) -> Finding:
    return Finding(
        key=FindingKey("PYSEC-2021-335", package),
        aliases=("CVE-2021-32807", "GHSA-qcx9-j53g-ccgf"),
        versions=("4.1",),
        lockfiles=("requirements.txt",),
        fixed_versions=("4.3",),
        severity=severity,
        record_ids=("PYSEC-2021-335",),
    )


def rule(index: int = 0, **fields: object) -> IgnoreRule:
    base: dict[str, object] = {
        "id": "CVE-2021-32807",
        "reason": "off",
        "issue": "https://github.com/a/b/issues/1",
    }
    base.update(fields)
    return IgnoreRule(index=index, **base)  # type: ignore[arg-type]


def statuses(config: AdvisoriesConfig, *findings: Finding) -> list[tuple[Status, bool]]:
    assessed, _, _ = apply_policy(list(findings), config, NOW, newest_modified=FRESH)
    return [(a.status, a.fails) for a in assessed]


def test_ignore_by_alias_applies_and_expires() -> None:
    standing = AdvisoriesConfig(ignore=(rule(expires=dt.date(2026, 11, 24)),))
    assert statuses(standing, finding()) == [(Status.IGNORED, False)]
    expired = AdvisoriesConfig(ignore=(rule(expires=dt.date(2026, 11, 23)),))
    assert statuses(expired, finding()) == [(Status.IGNORE_EXPIRED, True)]


def test_package_scope_limits_the_ignore() -> None:
    config = AdvisoriesConfig(ignore=(rule(package="other"),))
    assessed, unused, diagnostics = apply_policy([finding()], config, NOW, newest_modified=FRESH)
    assert assessed[0].status is Status.ACTIVE
    assert [u.index for u in unused] == [0]
    assert [(d.code, d.level) for d in diagnostics] == [("unused-ignored-advisory", Level.WARN)]


def test_threshold_and_unknown_severity() -> None:
    high_bar = AdvisoriesConfig(severity_threshold=Severity.HIGH)
    assert statuses(high_bar, finding(severity=Severity.MEDIUM)) == [(Status.ACTIVE, False)]
    assert statuses(high_bar, finding(severity=Severity.UNKNOWN)) == [(Status.ACTIVE, True)]
    lenient = AdvisoriesConfig(severity_threshold=Severity.HIGH, unknown_severity=Severity.LOW)
    assert statuses(lenient, finding(severity=Severity.UNKNOWN)) == [(Status.ACTIVE, False)]


def test_bare_ids_are_violations_and_stale_data_follows_its_level() -> None:
    config = AdvisoriesConfig(
        ignore=(IgnoreRule(id="PYSEC-2021-335", index=0),), stale_db=Level.DENY
    )
    assessed, _, diagnostics = apply_policy(
        [finding()], config, NOW, newest_modified=NOW - dt.timedelta(days=30)
    )
    assert assessed[0].status is Status.IGNORED
    codes = {(d.code, d.level) for d in diagnostics}
    assert codes == {
        ("ignore-missing-reason", Level.DENY),
        ("ignore-missing-issue", Level.DENY),
        ("stale-db", Level.DENY),
    }
    allowed = AdvisoriesConfig(stale_db=Level.ALLOW)
    _, _, quiet = apply_policy([], allowed, NOW, newest_modified=NOW - dt.timedelta(days=30))
    assert quiet == []
