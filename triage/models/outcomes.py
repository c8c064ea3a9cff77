"""What licenses, trust checks and the rotation decide."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from msgspec import Struct

from triage.models.codes import Level
from triage.models.findings import FindingKey

# --- licenses (SPEC §12) ------------------------------------------------------------------------


class LicenseVerdict(StrEnum):
    ALLOWED = "allowed"
    NOT_ALLOWED = "not-allowed"
    UNKNOWN = "unknown"  # metadata names no license triage can read as SPDX
    UNLICENSED = "unlicensed"  # metadata names no license at all
    NOT_JUDGED = "not-judged"  # offline, and not in the cache


class LicenseInfo(Struct, frozen=True):
    """What a package version's metadata says of its license."""

    expression: str | None  # SPDX, normalised; None when unknown or absent
    source: str  # license-expression | license | classifiers | clarify | none | absent (no
    # such release on the index)
    raw: str = ""  # the text it came from, kept when it could not be read


class LicenseResult(Struct, frozen=True):
    name: str
    version: str
    info: LicenseInfo | None  # None: not judged (offline, not cached)
    verdict: LicenseVerdict
    level: Level  # what the verdict counts as: deny fails the check
    why: str


class LicenseChange(Struct, frozen=True):
    """A license a pull request brings: a new package, or a version whose expression
    changed; judged by the base's policy."""

    result: LicenseResult
    previous: tuple[str, ...] = ()  # the base's expressions of the package; () for a new one

    @property
    def new_package(self) -> bool:
        return not self.previous


# --- trust (SPEC §7) ----------------------------------------------------------------------------


class Identity(Struct, frozen=True):
    """Who published an artifact: a Trusted Publisher proven by a verified attestation."""

    kind: str  # "github" | "gitlab" | "google"
    repository: str  # owner/name, or the service account e-mail for google
    workflow: str = ""  # workflow file name (github) or CI file path (gitlab)
    environment: str | None = None

    def __str__(self) -> str:
        where = f" {self.workflow}" if self.workflow else ""
        env = f" (environment {self.environment})" if self.environment else ""
        return f"{self.kind} {self.repository}{where}{env}"


class PublisherRule(Struct, frozen=True):
    """A trust-store/publishers.toml entry: an identity, optionally limited to packages."""

    identity: Identity
    packages: tuple[str, ...] = ()  # normalised names; empty means every package


class ArtifactEvidence(Struct, frozen=True):
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


class TrustResult(Struct, frozen=True):
    evidence: ArtifactEvidence
    verdict: Verdict
    reason: str
    fails: bool


class AuditRecord(Struct, frozen=True):
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


class TriageRecord(Struct, frozen=True):
    """What the database knows of one finding key, as the rotation works it."""

    key: FindingKey
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
    malicious: bool = False  # malware: first in the queue


class FixNote(Struct, frozen=True):
    """The last plan `triage fix` made for a finding key, and the pull request proposing it."""

    key: FindingKey
    plan: str  # one line: package, from and to, lockfile, strategy
    state: str  # the plan's state (ready, applied, blocked...)
    pull_url: str | None
    at: dt.datetime


class Change(Struct, frozen=True):
    """One entry of a finding's append-only history."""

    key: FindingKey
    at: dt.datetime
    who: str
    event: str  # first-seen, claimed, ignored, unignored, ignore-ended, fixed, reappeared, severity
    detail: str
    state: TriageState  # the state after the change
