"""The database (SQLite through sqlite-utils, used nowhere else): one connection, numbered
migrations, and one store per kind of data kept in it."""

from triage.store.advisories import AdvisoryStore, SourceRow, StoredFile
from triage.store.audit_runs import AuditStore, audit_lock
from triage.store.caches import CachedLicense, CacheRows, Caches, KeptReading
from triage.store.connection import Database, parse_stamp, stamp
from triage.store.derived import deriver
from triage.store.local_tracker import LocalTracker
from triage.store.org import OrgStore, RepoMemory
from triage.store.triage_state import TriageStore

__all__ = [
    "AdvisoryStore",
    "AuditStore",
    "CacheRows",
    "CachedLicense",
    "Caches",
    "Database",
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
