"""deny.toml, validated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from triage.models.codes import Level, LintCode, Severity, TrustMode
from triage.models.findings import IgnoreRule

# --- configuration (deny.toml, validated) -----------------------------------------------------

DEFAULT_SOURCES = ("osv:PyPI",)


PROJECT_STATUS = {"quarantined": Level.DENY, "archived": Level.WARN, "deprecated": Level.WARN}


@dataclass(frozen=True)
class AdvisoriesConfig:
    sources: tuple[str, ...] = DEFAULT_SOURCES
    maximum_db_staleness: dt.timedelta = dt.timedelta(days=7)
    stale_db: Level = Level.WARN
    severity_threshold: Severity = Severity.LOW
    unknown_severity: Severity = Severity.HIGH
    unused_ignored_advisory: Level = Level.WARN
    unpinned: Level = Level.WARN  # possibly-affected unpinned requirements
    malicious: Level = Level.DENY  # a malware finding: deny fails whatever the threshold
    yanked: Level = Level.WARN  # a locked file its index has yanked (PEP 592)
    # PEP 792 project status: a level per status the index gives
    project_status: Mapping[str, Level] = field(default_factory=lambda: dict(PROJECT_STATUS))
    ignore: tuple[IgnoreRule, ...] = ()
    lints: Mapping[LintCode, Level] = field(
        default_factory=dict
    )  # per-code levels over the defaults


@dataclass(frozen=True)
class TrustConfig:
    mode: TrustMode = TrustMode.BASIC
    unsigned: Level = Level.WARN


def _default_sla() -> dict[str, dt.timedelta]:
    days = {"critical": 2, "high": 2, "medium": 14, "low": 30, "unknown": 7}
    return {name: dt.timedelta(days=n) for name, n in days.items()}


@dataclass(frozen=True)
class GithubConfig:
    repository: str | None = None
    labels: tuple[str, ...] = ("security", "dependencies")


class FixGroup(StrEnum):
    PACKAGE = "package"  # one fix pull request per package
    FINDING = "finding"  # one per finding


@dataclass(frozen=True)
class FixConfig:
    """[fix]: whether the daily audit opens fix pull requests, for which findings, grouped how."""

    open_prs: bool = False
    severity: Severity = Severity.HIGH
    group: FixGroup = FixGroup.PACKAGE


@dataclass(frozen=True)
class ScanConfig:
    """[scan]: globs (over paths relative to the root, `/`-separated) adding files to
    discovery, or taking discovered ones out."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class LicenseException:
    """[[licenses.exceptions]]: licenses allowed for one package only."""

    name: str  # normalised
    allow: tuple[str, ...]
    index: int  # position, for key paths


@dataclass(frozen=True)
class Clarification:
    """[[licenses.clarify]]: the expression that holds for a package's versions, over what
    its metadata says."""

    name: str  # normalised
    version: str  # a PEP 440 specifier ("" for every version)
    expression: str
    index: int


@dataclass(frozen=True)
class LicensesConfig:
    """[licenses], cargo-deny's shape (SPEC §12)."""

    allow: tuple[str, ...] = ()
    exceptions: tuple[LicenseException, ...] = ()
    clarify: tuple[Clarification, ...] = ()
    unlicensed: Level = Level.DENY
    lints: Mapping[LintCode, Level] = field(default_factory=dict)
    enabled: bool = False  # deny.toml has a [licenses] table: diffs and audits judge licenses

    def level(self, code: LintCode) -> Level:
        defaults = {
            LintCode.LICENSE_NOT_ALLOWED: Level.DENY,
            LintCode.LICENSE_UNKNOWN: Level.WARN,
            LintCode.LICENSE_EXCEPTION_UNUSED: Level.WARN,
            LintCode.LICENSE_CLARIFY_UNUSED: Level.WARN,
        }
        return self.lints.get(code, defaults.get(code, Level.WARN))


@dataclass(frozen=True)
class OrgConfig:
    """[org]: which repositories of an organisation are audited, and where issues go."""

    include: tuple[str, ...] = ("*",)  # globs on the repository's name
    exclude: tuple[str, ...] = ()
    forks: bool = False
    archived: bool = False
    default_policy: str | None = None  # a deny.toml for repositories without one
    central: str | None = None  # ORG/REPO holding every tracking issue; None: per repository
    concurrency: int = 8  # repositories read at once by the in-process engine


@dataclass(frozen=True)
class Config:
    path: str = "deny.toml"
    advisories: AdvisoriesConfig = field(default_factory=AdvisoriesConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    sla: dict[str, dt.timedelta] = field(default_factory=_default_sla)
    github: GithubConfig = field(default_factory=GithubConfig)
    schedule_audit: str = "0 9 * * *"
    scan: ScanConfig = field(default_factory=ScanConfig)
    licenses: LicensesConfig = field(default_factory=LicensesConfig)
    org: OrgConfig = field(default_factory=OrgConfig)
    schedule_org_audit: str | None = None  # cron; None: the schedule does not audit an org
    fix: FixConfig = field(default_factory=FixConfig)
