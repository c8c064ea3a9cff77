"""deny.toml, validated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum

from msgspec import Struct, field

from triage.models.codes import Level, LintCode, Severity, TrustMode
from triage.models.findings import IgnoreRule

# --- configuration (deny.toml, validated) -----------------------------------------------------

DEFAULT_SOURCES = ("osv:PyPI",)


PROJECT_STATUS = {"quarantined": Level.DENY, "archived": Level.WARN, "deprecated": Level.WARN}


class AdvisoriesConfig(Struct, frozen=True):
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


class TrustConfig(Struct, frozen=True):
    mode: TrustMode = TrustMode.BASIC
    unsigned: Level = Level.WARN


def _default_sla() -> dict[str, dt.timedelta]:
    days = {"critical": 2, "high": 2, "medium": 14, "low": 30, "unknown": 7}
    return {name: dt.timedelta(days=n) for name, n in days.items()}


class GithubConfig(Struct, frozen=True):
    repository: str | None = None
    labels: tuple[str, ...] = ("security", "dependencies")


class FixGroup(StrEnum):
    PACKAGE = "package"  # one fix pull request per package
    FINDING = "finding"  # one per finding


class FixConfig(Struct, frozen=True):
    """[fix]: whether the daily audit opens fix pull requests, for which findings, grouped how."""

    open_prs: bool = False
    severity: Severity = Severity.HIGH
    group: FixGroup = FixGroup.PACKAGE


class ScanConfig(Struct, frozen=True):
    """[scan]: globs (over paths relative to the root, `/`-separated) adding files to
    discovery, or taking discovered ones out."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class LicenseException(Struct, frozen=True):
    """[[licenses.exceptions]]: licenses allowed for one package only."""

    name: str  # normalised
    allow: tuple[str, ...]
    index: int  # position, for key paths


class Clarification(Struct, frozen=True):
    """[[licenses.clarify]]: the expression that holds for a package's versions, over what
    its metadata says."""

    name: str  # normalised
    version: str  # a PEP 440 specifier ("" for every version)
    expression: str
    index: int


class LicensesConfig(Struct, frozen=True):
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


class OrgConfig(Struct, frozen=True):
    """[org]: which repositories of an organisation are audited, and where issues go."""

    include: tuple[str, ...] = ("*",)  # globs on the repository's name
    exclude: tuple[str, ...] = ()
    forks: bool = False
    archived: bool = False
    default_policy: str | None = None  # a deny.toml for repositories without one
    central: str | None = None  # ORG/REPO holding every tracking issue; None: per repository
    concurrency: int = 8  # repositories read at once by the in-process engine


class Config(Struct, frozen=True):
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
