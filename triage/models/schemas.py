"""Every JSON document triage writes names its schema and version (SPEC §8): one enum, one
place. Each has a JSON Schema under docs/schemas/ (the name after `triage/`), validated
against real output by the tests."""

from __future__ import annotations

from enum import StrEnum


class Schema(StrEnum):
    SCAN = "triage/scan-v1"
    DIFF = "triage/diff-v1"
    TRUST = "triage/trust-v1"
    LICENSES = "triage/licenses-v1"
    QUEUE = "triage/queue-v1"
    SHOW = "triage/show-v1"
    CLAIM = "triage/claim-v1"
    STATS = "triage/stats-v1"
    POLICY = "triage/policy-v1"
    ISSUES = "triage/issues-v1"
    SYNC = "triage/sync-v1"
    DB_STATUS = "triage/db-status-v1"
    DB_VERIFY = "triage/db-verify-v1"
    ORG_AUDIT = "triage/org-audit-v1"
    FIX = "triage/fix-v1"
    WITNESS = "triage/witness-v1"  # the predicate of the witness's in-toto statement

    @property
    def file(self) -> str:
        """Its JSON Schema's file name under docs/schemas/."""
        return self.value.removeprefix("triage/") + ".schema.json"
