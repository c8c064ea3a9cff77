"""Sync: advisory sources into the database, incrementally and atomically; and its status.

`sources` (YAML, zip archives, downloads) is imported by the functions that sync: a scan
asks only for the status and must not pay for loading it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field
from msgspec.structs import replace

from triage import store
from triage.core import policy
from triage.core.diagnostics import Diagnostics
from triage.errors import UpstreamError
from triage.models import DatabaseInfo
from triage.service.workspace import Progress, Workspace

if TYPE_CHECKING:
    from triage import sources
    from triage.settings import Settings


class SyncCounts(Struct):
    added: int = 0
    modified: int = 0
    withdrawn: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0  # records with no PyPI package


class SyncReport(Struct):
    counts: SyncCounts = field(default_factory=SyncCounts)
    unreachable: list[str] = field(default_factory=list)  # messages, one per failed source
    not_fetched: list[str] = field(default_factory=list)  # URL sources, offline
    warnings: list[str] = field(default_factory=list)  # record problems matching can live with
    used_snapshot: bool = False
    records: int = 0
    rederived: tuple[str, ...] = ()  # match index rows that disagreed with their records


def _apply_listing(
    advisories: store.AdvisoryStore,
    listing: sources.SourceListing,
    report: SyncReport,
    *,
    progress: Progress | None,
) -> Callable[[], None]:
    """Decode what changed in one source (raising before anything is written) and return the
    write step, to be run inside the sync's single transaction."""
    from triage import sources

    stored = advisories.stored_files(listing.source)
    changed = [
        e
        for e in listing.entries
        if e.name not in stored or stored[e.name].fingerprint != e.fingerprint
    ]
    decoded = []
    counts = report.counts
    said = Diagnostics()
    for done, item in enumerate(sources.iter_decoded(listing, changed, said), start=1):
        decoded.append(item)
        if progress:
            progress(f"reading {listing.source}", done, len(changed))
    report.warnings += said.warnings
    present = {e.name for e in listing.entries}
    gone = [name for name in stored if name not in present]
    counts.unchanged += len(listing.entries) - len(changed)

    def write() -> None:
        # Content decides, not `modified`: upstream edits a record (a fix version, say)
        # without moving its stamp, and an incremental sync must end where a fresh one does.
        previous = advisories.stored_state(a.id for _, a in decoded)
        for entry, advisory in decoded:
            if not advisory.affected:
                counts.skipped += 1
                advisories.put_file(listing.source, entry.name, entry.fingerprint, advisory_id=None)
                continue
            old = previous.get(advisory.id)
            digest = sources.record_digest(advisory)
            if old is not None and old[0] == digest:
                counts.unchanged += 1
                if not old[2]:  # the same record, stored before a column it now fills
                    advisories.put_advisory(advisory, listing.source, digest)
            else:
                if advisory.withdrawn and (old is None or not old[1]):
                    counts.withdrawn += 1
                elif old is None:
                    counts.added += 1
                else:
                    counts.modified += 1
                advisories.put_advisory(advisory, listing.source, digest)
                previous[advisory.id] = (digest, advisory.withdrawn, True)
            advisories.put_file(
                listing.source, entry.name, entry.fingerprint, advisory_id=advisory.id
            )
        orphans = {stored[name].advisory_id for name in gone} - {None}
        for name in gone:
            advisories.drop_file(listing.source, name)
        for advisory_id in orphans - advisories.ids_still_provided(i for i in orphans if i):
            if advisory_id:
                advisories.drop_advisory(advisory_id)
                counts.removed += 1

    return write


def _listings(
    source_names: Sequence[str],
    scratch: str,
    report: SyncReport,
    *,
    progress: Progress | None,
    require_all: bool,
    settings: Settings,
) -> list[sources.SourceListing]:
    from triage import sources

    listings = []
    for index, name in enumerate(source_names):
        if settings.offline and "://" in sources.resolve_source(name):
            report.not_fetched.append(name)
            continue
        workdir = Path(scratch, str(index))
        workdir.mkdir()
        download = (
            (lambda got, total, name=name: progress(f"downloading {name}", got, total))
            if progress
            else None
        )
        try:
            listings.append(
                sources.list_source(name, workdir, download, loopback_http=settings.loopback_http)
            )
        except UpstreamError as exc:
            if require_all:
                raise
            report.unreachable.append(str(exc))
    return listings


def sync(ws: Workspace, source_names: Sequence[str], *, require_all: bool = False) -> SyncReport:
    """Import every source in one transaction; fall back to the embedded snapshot when the
    database would otherwise be empty. A malformed record aborts before anything is written;
    so does an unreachable source when `require_all` (the user named the sources)."""
    from triage import sources
    from triage.core import matching

    report = SyncReport()
    now = ws.now()
    with ws.database() as db, sources.scratch_dir() as scratch:
        advisories = store.AdvisoryStore(db)
        # A local source whose files the file system describes as before is not read at all.
        fingerprints = {name: sources.fingerprint(name) for name in source_names}
        unchanged = advisories.unchanged_sources(fingerprints)
        report.counts.unchanged += sum(unchanged.values())
        if unchanged:
            advisories.mark_checked(unchanged, now)
        if unchanged and len(unchanged) == len(set(source_names)):
            report.rederived = advisories.repair_index()
            report.records = advisories.record_count()
            return report
        to_read = [name for name in source_names if name not in unchanged]
        listings = _listings(
            to_read,
            scratch,
            report,
            progress=ws.progress,
            require_all=require_all,
            settings=ws.settings,
        )
        if listings:
            if advisories.stored_files(sources.SNAPSHOT_SOURCE):
                # Real data replaces the embedded snapshot entirely.
                listings.append(
                    sources.SourceListing(sources.SNAPSHOT_SOURCE, "snapshot", None, [])
                )
        elif advisories.record_count() == 0:
            listings.append(sources.snapshot_listing())
            report.used_snapshot = True
        writes = [
            _apply_listing(advisories, listing, report, progress=ws.progress)
            for listing in listings
        ]
        if listings:  # else every source was unreachable: the stored data stands as it was
            with db.transaction():
                for write in writes:
                    write()
                counts = report.counts
                if counts.added or counts.modified or counts.withdrawn or counts.removed:
                    advisories.store_groups(matching.alias_groups(advisories.alias_rows()))
                advisories.finish_sync(
                    (
                        store.SourceRow(
                            listing.source,
                            listing.kind,
                            listing.revision,
                            len(listing.entries),
                            fingerprints.get(listing.source),
                        )
                        for listing in listings
                        if listing.entries
                    ),
                    now,
                )
        report.rederived = advisories.repair_index()
        report.records = advisories.record_count()
    return report


def database_info(db: store.Database, now: dt.datetime) -> DatabaseInfo:
    info = store.AdvisoryStore(db).info()
    newest = store.parse_stamp(info.newest_modified)
    return replace(info, age_days=policy.data_age_days(newest, now))


def status(ws: Workspace) -> DatabaseInfo:
    with ws.database(existing=True) as db:
        return database_info(db, ws.now())


def ensure_data(ws: Workspace) -> None:
    """An empty database is first filled from the embedded snapshot (a first run offline)."""
    with ws.database() as db:
        empty = store.AdvisoryStore(db).record_count() == 0
    if empty:
        sync(ws, [])
