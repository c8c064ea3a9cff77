"""Advisories, locked packages, findings and what a scan reports."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import TYPE_CHECKING

from msgspec import Struct, field

from triage.errors import InputError
from triage.models.codes import Justification, Level, LintCode, Severity

if TYPE_CHECKING:
    from triage.models.notes import IndexNote

# --- advisories -------------------------------------------------------------------------------

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
# OpenSSF malicious-packages ids (also in OSV's PyPI export): a record with one, or aliased to
# one, reports malware, not a vulnerability. Its data says so too: MALWARE_ORIGINS.
MALWARE_PREFIX = "MAL-"
MALWARE_ORIGINS = "malicious-packages-origins"  # database_specific key of OpenSSF's records


def is_malware_id(advisory_id: str) -> bool:
    return advisory_id.startswith(MALWARE_PREFIX)


class Event(Struct, frozen=True, array_like=True):
    """Encoded and decoded as [kind, version], the form the database stores."""

    kind: str  # one of EVENT_KINDS
    version: str


class VersionRange(Struct, frozen=True):
    """One OSV `ECOSYSTEM` range; other range types never decide a PyPI match."""

    events: tuple[Event, ...]


class Affected(Struct, frozen=True):
    package: str  # PEP 503 normalised
    ranges: tuple[VersionRange, ...]
    versions: tuple[str, ...]


class Advisory(Struct, frozen=True):
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
    # Malware: a MAL- id, or OpenSSF's origins in its data (what every malicious-packages
    # record carries, whatever id a database republishing it gives it).
    malicious: bool = False


class AliasGroup(Struct, frozen=True):
    """Records that are aliases of each other, transitively, named by the preferred id."""

    preferred: str
    ids: tuple[str, ...]  # every id in the group, sorted, preferred included

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(i for i in self.ids if i != self.preferred)


# --- lockfiles --------------------------------------------------------------------------------


class Artifact(Struct, frozen=True):
    """A distribution file named in a lockfile, with the digest the lockfile pins."""

    filename: str
    sha256: str | None


class Package(Struct, frozen=True):
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


class Unpinned(Struct, frozen=True):
    """A requirement that names no single version: reported, never resolved."""

    name: str
    lockfile: str
    location: str
    reason: str
    specifier: str | None = None  # the versions it admits from the index ("" for any); None
    # when they are not known (URL, VCS, editable, local sources)
    possibly_affected: tuple[str, ...] = ()  # advisory groups affecting an admitted version
    project_unknown: bool = False  # which project installs cannot be told (`${NAME}==1.0`)


class LockfileContents(Struct, frozen=True):
    path: str
    packages: tuple[Package, ...]
    unpinned: tuple[Unpinned, ...]
    members: tuple[str, ...] = ()  # the project's own workspace members: not dependencies
    includes: tuple[str, ...] = ()  # other files its reading read (-r), by shown path


# --- findings ---------------------------------------------------------------------------------


_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_KEY_HINT = (
    "write ADVISORY/package, as `triage queue` and `triage scan` print it, e.g. "
    "PYSEC-2021-335/accesscontrol; an organisation's finding is OWNER/REPO:ADVISORY/package, "
    "as `triage queue --org` prints it"
)


def is_repository(text: str) -> bool:
    """GitHub's OWNER/NAME, the one rule for every repository name triage is given (a key's
    prefix, --repo, deny.toml): it becomes a path of GitHub's API, so nothing else passes."""
    return bool(_REPOSITORY.fullmatch(text)) and text.split("/")[1] not in (".", "..")


def qualified(repository: str | None, key: str) -> str:
    """Any tracked key (a finding's, `untrusted/…`, `license/…`) as an organisation's runs
    keep it: prefixed by its repository. The one printer of that prefix."""
    return f"{repository}:{key}" if repository else key


def split_qualified(text: str) -> tuple[str | None, str]:
    """The repository a qualified key names (None: this repository's) and the key itself;
    the one reader of that prefix. A prefix that is not OWNER/REPO is bad input."""
    repository, colon, key = text.partition(":")
    if not colon:
        return None, text
    if not is_repository(repository):
        raise InputError(f"{text!r}: {repository!r} is not a repository name", hint=_KEY_HINT)
    return repository, key


class FindingKey(Struct, frozen=True, order=True):
    """(advisory group id, normalised package), and for an organisation's finding the
    repository it is in: neither version nor lockfile path is part of it. One parser
    (`parse`) and one printer (`str`), from the command line to the store and the issue
    markers: `ADVISORY/package`, or `OWNER/REPO:ADVISORY/package`."""

    advisory: str  # the advisory group's preferred id
    package: str
    repository: str | None = None

    @property
    def group(self) -> str:
        return self.advisory

    def __str__(self) -> str:
        return qualified(self.repository, f"{self.advisory}/{self.package}")

    @property
    def local(self) -> FindingKey:
        """The key as its own repository knows it."""
        return FindingKey(self.advisory, self.package)

    def within(self, repository: str | None) -> FindingKey:
        return FindingKey(self.advisory, self.package, repository)

    @classmethod
    def parse(cls, text: str) -> FindingKey:
        repository, key = split_qualified(text)
        advisory, slash, package = key.partition("/")
        if not slash or not advisory or not package or "/" in package or " " in text:
            raise InputError(f"{text!r} is not a finding key", hint=_KEY_HINT)
        return cls(advisory, re.sub(r"[-_.]+", "-", package).lower(), repository)


class Finding(Struct, frozen=True):
    key: FindingKey
    aliases: tuple[str, ...]
    versions: tuple[str, ...]  # affected versions present in the lockfiles, ascending
    lockfiles: tuple[str, ...]
    fixed_versions: tuple[str, ...]
    severity: Severity
    record_ids: tuple[str, ...]  # the records that matched
    references: tuple[str, ...] = ()
    summary: str | None = None
    # Malware (a MAL- record in the alias group): critical, its own policy level, removed and
    # never upgraded.
    malicious: bool = False

    @property
    def advisory(self) -> str:
        return self.key.advisory

    @property
    def package(self) -> str:
        return self.key.package

    def all_ids(self) -> frozenset[str]:
        return frozenset((self.advisory, *self.aliases, *self.record_ids))


# --- policy -----------------------------------------------------------------------------------


class IgnoreRule(Struct, frozen=True):
    id: str
    index: int  # position in advisories.ignore, for key paths in messages
    package: str | None = None
    reason: str | None = None
    issue: str | None = None
    expires: dt.date | None = None
    justification: Justification | None = None  # why not affected (VEX); else accepted risk


class Status(StrEnum):
    ACTIVE = "active"
    IGNORED = "ignored"
    IGNORE_EXPIRED = "ignore-expired"


class Diagnostic(Struct, frozen=True):
    """A policy message with a stable kebab-case code and the level the config gives it."""

    code: LintCode
    level: Level
    message: str
    ignore: IgnoreRule | None = None


class AssessedFinding(Struct, frozen=True):
    finding: Finding
    status: Status
    ignore: IgnoreRule | None
    fails: bool  # counts against the exit code: active/expired and at or above the threshold


class DatabaseInfo(Struct, frozen=True):
    digest: str
    records: int
    newest_modified: str | None
    age_days: int | None
    sources: tuple[str, ...] = ()
    last_sync: str | None = None


class LockfileRead(Struct, frozen=True):
    """One lockfile a scan read: what it held, so that "nothing found" over 141 packages is
    told apart from nothing read."""

    path: str
    format: str
    packages: int  # locked packages, those of the files it includes too
    unpinned: int
    members: tuple[str, ...] = ()  # the project's own workspace members, listed apart
    includes: tuple[str, ...] = ()  # the files its -r lines read


class ScanResult(Struct, frozen=True):
    findings: tuple[AssessedFinding, ...]
    unpinned: tuple[Unpinned, ...]
    diagnostics: tuple[Diagnostic, ...]
    unused_ignores: tuple[IgnoreRule, ...]
    database: DatabaseInfo
    lockfiles: tuple[LockfileRead, ...] = field(default=())
    package_count: int = 0
    warnings: tuple[str, ...] = ()  # what the scan noticed on the way (stderr, not the report)
    # What the last audit found the index saying of the releases still locked (a scan asks
    # nothing), and when.
    index_notes: tuple[IndexNote, ...] = ()
    index_checked: dt.datetime | None = None

    @property
    def fails(self) -> bool:
        return (
            any(f.fails for f in self.findings)
            or any(d.level is Level.DENY for d in self.diagnostics)
            or any(n.level is Level.DENY for n in self.index_notes)
        )
