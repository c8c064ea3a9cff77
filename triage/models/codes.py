"""Codes and levels: stable values shared by every layer (documented in README)."""

from __future__ import annotations

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
