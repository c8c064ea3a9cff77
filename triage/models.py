"""Plain data shared by the core and the edges: frozen, typed, no behaviour beyond ordering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum


class Level(StrEnum):
    """cargo-deny's diagnostic levels."""

    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


class LintCode(StrEnum):
    """Stable kebab-case codes of the policy's diagnostics (cargo-deny's style)."""

    UNUSED_IGNORED_ADVISORY = "unused-ignored-advisory"
    STALE_DB = "stale-db"
    IGNORE_MISSING_REASON = "ignore-missing-reason"
    IGNORE_MISSING_ISSUE = "ignore-missing-issue"
    IGNORE_EXPIRED = "ignore-expired"
    IGNORE_EXPIRING = "ignore-expiring"
    UNKNOWN_ADVISORY = "unknown-advisory"
    IGNORE_ISSUE_CLOSED = "ignore-issue-closed"
    UNPINNED = "unpinned"  # an unpinned requirement admits a version an advisory affects
    LICENSE_NOT_ALLOWED = "license-not-allowed"
    LICENSE_UNKNOWN = "license-unknown"
    LICENSE_EXCEPTION_UNUSED = "license-exception-unused"
    LICENSE_CLARIFY_UNUSED = "license-clarify-unused"


class TrustMode(StrEnum):
    """SPEC §7: whose signatures an artifact needs."""

    BASIC = "basic"
    CERTIFIED = "certified"
    AUDIT = "audit"


class Severity(Enum):
    """Qualitative severity, ordered; UNKNOWN is resolved through `unknown-severity`."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4
    UNKNOWN = -1

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


# --- advisories -------------------------------------------------------------------------------

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENT_KINDS
    version: str


@dataclass(frozen=True)
class VersionRange:
    """One OSV `ECOSYSTEM` range; other range types never decide a PyPI match."""

    events: tuple[Event, ...]


@dataclass(frozen=True)
class Affected:
    package: str  # PEP 503 normalised
    ranges: tuple[VersionRange, ...]
    versions: tuple[str, ...]


@dataclass(frozen=True)
class Advisory:
    """The facts of one OSV record that matching and reporting need, and one line of prose."""

    id: str
    modified: str
    published: str | None
    withdrawn: str | None
    aliases: tuple[str, ...]
    affected: tuple[Affected, ...]
    severity: Severity
    severity_vector: str | None
    references: tuple[str, ...]
    summary: str | None = None  # OSV's summary, else the first line of its details


@dataclass(frozen=True)
class AliasGroup:
    """Records that are aliases of each other, transitively, named by the preferred id."""

    preferred: str
    ids: tuple[str, ...]  # every id in the group, sorted, preferred included

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(i for i in self.ids if i != self.preferred)


# --- lockfiles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A distribution file named in a lockfile, with the digest the lockfile pins."""

    filename: str
    sha256: str | None


@dataclass(frozen=True)
class Package:
    name: str  # PEP 503 normalised
    version: str
    lockfile: str  # path relative to the scanned root, posix separators
    location: str  # where in the lockfile, e.g. "line 12" or "package[3]"
    display_name: str = ""
    hashes: tuple[str, ...] = ()  # "sha256:<hex>" as pinned, without file names
    artifacts: tuple[Artifact, ...] = ()
    markers: str | None = None
    extras: tuple[str, ...] = ()
    via: tuple[str, ...] = ()  # normalised names of the packages that require this one
    direct: bool | None = None  # None when the lockfile does not say


@dataclass(frozen=True)
class Unpinned:
    """A requirement that names no single version: reported, never resolved."""

    name: str
    lockfile: str
    location: str
    reason: str
    specifier: str | None = None  # the versions it admits from the index ("" for any); None
    # when they are not known (URL, VCS, editable, local sources)
    possibly_affected: tuple[str, ...] = ()  # advisory groups affecting an admitted version


@dataclass(frozen=True)
class LockfileContents:
    path: str
    packages: tuple[Package, ...]
    unpinned: tuple[Unpinned, ...]
    members: tuple[str, ...] = ()  # the project's own workspace members: not dependencies
    includes: tuple[str, ...] = ()  # other files its reading read (-r), by shown path


# --- findings ---------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class FindingKey:
    """(advisory group id, normalised package): neither version nor lockfile path is part of it."""

    advisory: str
    package: str

    def __str__(self) -> str:
        return f"{self.advisory}/{self.package}"


@dataclass(frozen=True)
class Finding:
    key: FindingKey
    aliases: tuple[str, ...]
    versions: tuple[str, ...]  # affected versions present in the lockfiles, ascending
    lockfiles: tuple[str, ...]
    fixed_versions: tuple[str, ...]
    severity: Severity
    record_ids: tuple[str, ...]  # the records that matched
    references: tuple[str, ...] = ()
    summary: str | None = None

    @property
    def advisory(self) -> str:
        return self.key.advisory

    @property
    def package(self) -> str:
        return self.key.package

    def all_ids(self) -> frozenset[str]:
        return frozenset((self.advisory, *self.aliases, *self.record_ids))


# --- policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    id: str
    index: int  # position in advisories.ignore, for key paths in messages
    package: str | None = None
    reason: str | None = None
    issue: str | None = None
    expires: dt.date | None = None


class Status(StrEnum):
    ACTIVE = "active"
    IGNORED = "ignored"
    IGNORE_EXPIRED = "ignore-expired"


@dataclass(frozen=True)
class Diagnostic:
    """A policy message with a stable kebab-case code and the level the config gives it."""

    code: LintCode
    level: Level
    message: str
    ignore: IgnoreRule | None = None


@dataclass(frozen=True)
class AssessedFinding:
    finding: Finding
    status: Status
    ignore: IgnoreRule | None
    fails: bool  # counts against the exit code: active/expired and at or above the threshold


@dataclass(frozen=True)
class DatabaseInfo:
    digest: str
    records: int
    newest_modified: str | None
    age_days: int | None
    sources: tuple[str, ...] = ()
    last_sync: str | None = None


@dataclass(frozen=True)
class LockfileRead:
    """One lockfile a scan read: what it held, so that "nothing found" over 141 packages is
    told apart from nothing read."""

    path: str
    format: str
    packages: int  # locked packages, those of the files it includes too
    unpinned: int
    members: tuple[str, ...] = ()  # the project's own workspace members, listed apart
    includes: tuple[str, ...] = ()  # the files its -r lines read


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[AssessedFinding, ...]
    unpinned: tuple[Unpinned, ...]
    diagnostics: tuple[Diagnostic, ...]
    unused_ignores: tuple[IgnoreRule, ...]
    database: DatabaseInfo
    lockfiles: tuple[LockfileRead, ...] = field(default=())
    package_count: int = 0

    @property
    def fails(self) -> bool:
        return any(f.fails for f in self.findings) or any(
            d.level is Level.DENY for d in self.diagnostics
        )


# --- configuration (deny.toml, validated) -----------------------------------------------------

DEFAULT_SOURCES = ("osv:PyPI",)


@dataclass(frozen=True)
class AdvisoriesConfig:
    sources: tuple[str, ...] = DEFAULT_SOURCES
    maximum_db_staleness: dt.timedelta = dt.timedelta(days=7)
    stale_db: Level = Level.WARN
    severity_threshold: Severity = Severity.LOW
    unknown_severity: Severity = Severity.HIGH
    unused_ignored_advisory: Level = Level.WARN
    unpinned: Level = Level.WARN  # possibly-affected unpinned requirements
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
class Config:
    path: str = "deny.toml"
    advisories: AdvisoriesConfig = field(default_factory=AdvisoriesConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    sla: dict[str, dt.timedelta] = field(default_factory=_default_sla)
    github: GithubConfig = field(default_factory=GithubConfig)
    schedule_audit: str = "0 9 * * *"
    scan: ScanConfig = field(default_factory=ScanConfig)
    licenses: LicensesConfig = field(default_factory=LicensesConfig)


# --- licenses (SPEC §12) ------------------------------------------------------------------------


class LicenseVerdict(StrEnum):
    ALLOWED = "allowed"
    NOT_ALLOWED = "not-allowed"
    UNKNOWN = "unknown"  # metadata names no license triage can read as SPDX
    UNLICENSED = "unlicensed"  # metadata names no license at all
    NOT_JUDGED = "not-judged"  # offline, and not in the cache


@dataclass(frozen=True)
class LicenseInfo:
    """What a package version's metadata says of its license."""

    expression: str | None  # SPDX, normalised; None when unknown or absent
    source: str  # license-expression | license | classifiers | clarify | none
    raw: str = ""  # the text it came from, kept when it could not be read


@dataclass(frozen=True)
class LicenseResult:
    name: str
    version: str
    info: LicenseInfo | None  # None: not judged (offline, not cached)
    verdict: LicenseVerdict
    level: Level  # what the verdict counts as: deny fails the check
    why: str


@dataclass(frozen=True)
class LicenseChange:
    """A license a pull request brings: a new package, or a version whose expression
    changed; judged by the base's policy."""

    result: LicenseResult
    previous: tuple[str, ...] = ()  # the base's expressions of the package; () for a new one

    @property
    def new_package(self) -> bool:
        return not self.previous


# --- trust (SPEC §7) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who published an artifact: a Trusted Publisher proven by a verified attestation."""

    kind: str  # "github" | "gitlab" | "google"
    repository: str  # owner/name, or the service account e-mail for google
    workflow: str = ""  # workflow file name (github) or CI file path (gitlab)
    environment: str | None = None

    def __str__(self) -> str:
        where = f" {self.workflow}" if self.workflow else ""
        env = f" (environment {self.environment})" if self.environment else ""
        return f"{self.kind} {self.repository}{where}{env}"


@dataclass(frozen=True)
class PublisherRule:
    """A trust-store/publishers.toml entry: an identity, optionally limited to packages."""

    identity: Identity
    packages: tuple[str, ...] = ()  # normalised names; empty means every package


@dataclass(frozen=True)
class ArtifactEvidence:
    """What the provenance says about one locked artifact, after verification."""

    package: str
    version: str
    filename: str
    sha256: str
    verified: tuple[Identity, ...]  # identities whose attestations verified for this digest
    failures: tuple[str, ...]  # attestations present that did not verify, with the reason


class Verdict(StrEnum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    UNSIGNED = "unsigned"


@dataclass(frozen=True)
class TrustResult:
    evidence: ArtifactEvidence
    verdict: Verdict
    reason: str
    fails: bool


@dataclass(frozen=True)
class AuditRecord:
    """A cargo-vet style audit: a full audit of `version`, or a delta `from_version -> version`;
    `problem` says why it cannot be relied on (a bad signature, an unknown key)."""

    package: str
    version: str
    criteria: str
    who: str
    source: str  # "trust-store/audits.toml", or the import's name
    from_version: str | None = None
    problem: str | None = None
    digests: tuple[str, ...] = ()  # the artifacts audited; empty: the version as such


# --- the rotation's triage state ----------------------------------------------------------------


class TriageState(StrEnum):
    NEW = "new"
    CLAIMED = "claimed"
    IGNORED = "ignored"
    FIXED = "fixed"


@dataclass(frozen=True)
class TriageRecord:
    """What the database knows of one finding key, as the rotation works it."""

    key: str
    advisory: str
    package: str
    versions: tuple[str, ...]
    severity: str  # the record's label; `unknown` keeps its own SLA
    state: TriageState
    first_seen: dt.datetime
    last_seen: dt.datetime
    due: dt.datetime  # first seen + the [sla] duration of its severity
    gone_since: dt.datetime | None = None
    assignee: str | None = None
    issue_url: str | None = None


@dataclass(frozen=True)
class Change:
    """One entry of a finding's append-only history."""

    key: str
    at: dt.datetime
    who: str
    event: str  # first-seen, claimed, ignored, unignored, ignore-ended, fixed, reappeared, severity
    detail: str
    state: TriageState  # the state after the change
