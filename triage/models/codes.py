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
    IGNORED_MALWARE = "ignored-malware"  # an ignore that accepts malware
    LICENSE_NOT_ALLOWED = "license-not-allowed"
    LICENSE_UNKNOWN = "license-unknown"
    LICENSE_EXCEPTION_UNUSED = "license-exception-unused"
    LICENSE_CLARIFY_UNUSED = "license-clarify-unused"


class Justification(StrEnum):
    """CycloneDX's VEX justifications: why a finding does not affect the project. Only an
    ignore that gives one is a `not_affected` claim; any other is accepted risk."""

    CODE_NOT_PRESENT = "code_not_present"
    CODE_NOT_REACHABLE = "code_not_reachable"
    REQUIRES_CONFIGURATION = "requires_configuration"
    REQUIRES_DEPENDENCY = "requires_dependency"
    REQUIRES_ENVIRONMENT = "requires_environment"
    PROTECTED_BY_COMPILER = "protected_by_compiler"
    PROTECTED_AT_RUNTIME = "protected_at_runtime"
    PROTECTED_AT_PERIMETER = "protected_at_perimeter"
    PROTECTED_BY_MITIGATING_CONTROL = "protected_by_mitigating_control"


class Format(StrEnum):
    """An output format (`--format`); each command offers some, through a table of one
    renderer per format it offers."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    SARIF = "sarif"
    HTML = "html"
    CYCLONEDX = "cyclonedx"
    CYCLONEDX_XML = "cyclonedx-xml"


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
