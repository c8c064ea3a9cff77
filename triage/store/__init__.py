"""The database (SQLite through sqlite-utils, used nowhere else): one connection, numbered
migrations, and one store per kind of data kept in it. A store's module loads when first
asked for (a scan reads advisories and caches, not the rotation's or the organisation's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.exports import lazy

if TYPE_CHECKING:
    from triage.store.advisories import AdvisoryStore, SourceRow, StoredFile
    from triage.store.audit_runs import AuditStore, audit_lock
    from triage.store.caches import CachedLicense, CacheRows, Caches, KeptReading
    from triage.store.connection import Database, parse_stamp, stamp
    from triage.store.derived import deriver
    from triage.store.fix_plans import FixPlanStore
    from triage.store.index_notes import IndexNoteStore
    from triage.store.local_tracker import LocalTracker
    from triage.store.org import OrgStore, RepoMemory
    from triage.store.triage_state import TriageStore

_NAMES = {
    "advisories": ("AdvisoryStore", "SourceRow", "StoredFile"),
    "audit_runs": ("AuditStore", "audit_lock"),
    "caches": ("CachedLicense", "CacheRows", "Caches", "KeptReading"),
    "connection": ("Database", "parse_stamp", "stamp"),
    "derived": ("deriver",),
    "fix_plans": ("FixPlanStore",),
    "index_notes": ("IndexNoteStore",),
    "local_tracker": ("LocalTracker",),
    "org": ("OrgStore", "RepoMemory"),
    "triage_state": ("TriageStore",),
}
__getattr__ = lazy(__name__, _NAMES)

__all__ = [
    "AdvisoryStore",
    "AuditStore",
    "CacheRows",
    "CachedLicense",
    "Caches",
    "Database",
    "FixPlanStore",
    "IndexNoteStore",
    "KeptReading",
    "LocalTracker",
    "OrgStore",
    "RepoMemory",
    "SourceRow",
    "StoredFile",
    "TriageStore",
    "audit_lock",
    "deriver",
    "parse_stamp",
    "stamp",
]
