"""Advisory records as synced: what each source provided, the records, their alias groups,
and the lookups a scan makes by package name."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from msgspec import Struct

from triage.errors import DatabaseError
from triage.models import (
    Advisory,
    Affected,
    AliasGroup,
    DatabaseInfo,
    Severity,
)
from triage.store import columns, match_index
from triage.store.connection import Database, stamp

if TYPE_CHECKING:
    import sqlite_utils


class StoredFile(Struct, frozen=True):
    fingerprint: str
    advisory_id: str | None


class SourceRow(Struct, frozen=True):
    """One synced source, as `sources` records it."""

    source: str
    kind: str
    revision: str | None
    records: int
    fingerprint: str | None = None  # the source's own, when it has one (see sources)


class AdvisoryStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.touched: set[str] = set()  # packages whose records changed: recompiled at the end

    @property
    def db(self) -> sqlite_utils.Database:
        return self.database.db

    def record_count(self) -> int:
        return int(self.database.rows("select count(*) from advisories")[0][0])

    def stored_files(self, source: str) -> dict[str, StoredFile]:
        rows = self.db.query(
            "select name, fingerprint, advisory_id from source_files where source = ?", [source]
        )
        return {r["name"]: StoredFile(r["fingerprint"], r["advisory_id"]) for r in rows}

    def stored_state(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None, bool]]:
        """By id: the stored record's content digest, its withdrawal time, and whether its row
        has every column (one stored before a column was added must be put again)."""
        rows = self.db.query(
            "select id, digest, withdrawn, malicious is not null as complete from advisories "
            "where id in (select value from json_each(?))",
            [json.dumps(list(ids))],
        )
        return {r["id"]: (r["digest"], r["withdrawn"], bool(r["complete"])) for r in rows}

    def ids_still_provided(self, ids: Iterable[str]) -> set[str]:
        rows = self.db.query(
            "select distinct advisory_id from source_files "
            "where advisory_id in (select value from json_each(?))",
            [json.dumps(list(ids))],
        )
        return {r["advisory_id"] for r in rows}

    def put_file(
        self, source: str, name: str, fingerprint: str, *, advisory_id: str | None
    ) -> None:
        self.db.table("source_files").upsert(
            {
                "source": source,
                "name": name,
                "fingerprint": fingerprint,
                "advisory_id": advisory_id,
            },
            pk=("source", "name"),
        )

    def drop_file(self, source: str, name: str) -> None:
        self.db.execute("delete from source_files where source = ? and name = ?", [source, name])

    def _touch(self, advisory_id: str) -> None:
        self.touched.update(
            package
            for (package,) in self.database.rows(
                "select package from affected where advisory_id = ?", [advisory_id]
            )
        )

    def put_advisory(self, advisory: Advisory, source: str, digest: str) -> None:
        self._touch(advisory.id)
        self.touched.update(entry.package for entry in advisory.affected)
        self.db.execute("delete from affected where advisory_id = ?", [advisory.id])
        self.db.table("advisories").upsert(
            {
                "id": advisory.id,
                "modified": advisory.modified,
                "published": advisory.published,
                "withdrawn": advisory.withdrawn,
                "aliases": json.dumps(list(advisory.aliases)),
                "severity": advisory.severity.label,
                "severity_vector": advisory.severity_vector,
                "refs": json.dumps(list(advisory.references)),
                "summary": advisory.summary,
                "malicious": int(advisory.malicious),
                "source": source,
                "digest": digest,
            },
            pk="id",
        )
        self.db.table("affected").insert_all(
            {
                "advisory_id": advisory.id,
                "package": entry.package,
                "ranges": columns.ranges_to_json(entry),
                "versions": json.dumps(list(entry.versions)),
            }
            for entry in advisory.affected
        )

    def drop_advisory(self, advisory_id: str) -> None:
        self._touch(advisory_id)
        self.db.execute("delete from affected where advisory_id = ?", [advisory_id])
        self.db.execute("delete from advisories where id = ?", [advisory_id])

    def alias_rows(self) -> list[Advisory]:
        """Every record's id, aliases and withdrawal: what alias grouping needs, nothing more."""
        return [
            Advisory(
                id=r["id"],
                modified=r["modified"],
                published=None,
                withdrawn=r["withdrawn"],
                aliases=tuple(json.loads(r["aliases"])),
                affected=(),
                severity=Severity.UNKNOWN,
                severity_vector=None,
                references=(),
            )
            for r in self.db.query("select id, modified, withdrawn, aliases from advisories")
        ]

    def store_groups(self, groups: Mapping[str, AliasGroup]) -> None:
        rows = [
            (groups[r["id"]].preferred, json.dumps(groups[r["id"]].ids), r["id"])
            if r["id"] in groups
            else (r["id"], json.dumps([r["id"]]), r["id"])
            for r in self.db.query("select id from advisories")
        ]
        self.db.conn.executemany(
            "update advisories set group_id = ?, group_ids = ? where id = ?", rows
        )

    def finish_sync(self, sources: Iterable[SourceRow], now: dt.datetime) -> None:
        """The match index of the packages whose records changed, the content digest over
        every record, the sync's time, and the sources it read."""
        if self.touched:
            match_index.rebuild(self.database.conn, self.touched)
            self.touched.clear()
        lines = "".join(
            f"{r['id']}:{r['digest']}\n"
            for r in self.db.query("select id, digest from advisories order by id")
        )
        self.database.set_meta("digest", "sha256:" + hashlib.sha256(lines.encode()).hexdigest())
        self.database.set_meta("last_sync", stamp(now))
        for row in sources:
            self.db.table("sources").upsert(
                {
                    "source": row.source,
                    "kind": row.kind,
                    "revision": row.revision,
                    "last_sync": stamp(now),
                    "records": row.records,
                    "fingerprint": row.fingerprint,
                },
                pk="source",
            )
        self.db.execute(
            "delete from sources where source not in (select distinct source from source_files)"
        )

    def repair_index(self) -> tuple[str, ...]:
        """Every match index row checked against the records as they are now; those that
        disagree (stale, left over, missing, edited, another deriver's) recompiled. A sync
        does this even when no source changed."""
        with self.database.transaction():
            return match_index.repair(self.database.conn)

    def unchanged_sources(self, fingerprints: Mapping[str, str | None]) -> dict[str, int]:
        """Of the sources given with their fingerprint now, those stored with the same one, and
        how many record files each had."""
        rows = self.database.rows("select source, fingerprint, records from sources")
        return {
            source: int(records or 0)
            for source, stored, records in rows
            if stored is not None and fingerprints.get(source) == stored
        }

    def mark_checked(self, sources: Iterable[str], now: dt.datetime) -> None:
        """A sync that found these sources unchanged still counts as a sync."""
        moment = stamp(now)
        for source in sources:
            self.database.write(
                "update sources set last_sync = ? where source = ?", [moment, source]
            )
        self.database.set_meta("last_sync", moment)

    # --- lookups ------------------------------------------------------------------------------

    def content_digest(self) -> str:
        """A digest of every stored fact matching and reports use, the match index derived
        from them included, computed from the rows themselves (the digest recorded at sync is
        only as honest as the file): what a witness records and Celery workers are pinned
        by."""
        digest = hashlib.sha256()
        for table, query in (
            (
                "advisories",
                "select id, modified, published, withdrawn, aliases, severity, "
                "severity_vector, refs, summary, group_id, group_ids, malicious from advisories "
                "order by id",
            ),
            (
                "affected",
                "select advisory_id, package, ranges, versions from affected "
                "order by advisory_id, package, ranges, versions",
            ),
            (
                "match_index",
                "select package, compiled, inputs, deriver, digest from match_index "
                "order by package",
            ),
        ):
            digest.update(f"{table}\n".encode())
            for row in self.database.conn.execute(query):
                digest.update(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        return "sha256:" + digest.hexdigest()

    def compiled(self, names: Iterable[str]) -> match_index.Lookup:
        """The match index's compiled form of each of `names` that any live record affects,
        each row checked against the records now (and recompiled when it disagrees)."""
        return match_index.lookup(self.database.conn, names)

    def candidates(
        self,
        names: Iterable[str],
        only: Mapping[str, Collection[str]] | None = None,
        *,
        read: match_index.Lookup | None = None,
        undecided: Mapping[str, Collection[str]] | None = None,
    ) -> tuple[list[Advisory], dict[str, AliasGroup]]:
        """Records with an affected entry for any of `names` (only those entries), and their
        groups; for a package in `only`, just the records it names. `read`: a match index
        lookup, whose entries of the names it looked up (read to check the index) are used
        rather than read again. `undecided`: for a package in `only`, the records whose
        entries are read; the index decided the rest (their one affecting entry's fixed
        versions), which come without their entries for it."""
        wanted = set(names)
        only = only or {}
        known = read.names & wanted if read is not None else frozenset()
        rows = [row[:4] for row in read.rows if row[0] in known] if read is not None else []
        if wanted - known:
            rows += self.database.rows(
                "select package, advisory_id, ranges, versions from affected "
                "where package in (select value from json_each(?))",
                [json.dumps(sorted(wanted - known))],
            )
        entries: dict[str, list[Affected]] = {}
        named: set[str] = set()  # records the index names: each must be found
        for package, advisory_id, ranges_json, versions_json in rows:
            if package in only:
                if advisory_id not in only[package]:
                    continue
                named.add(advisory_id)
                if undecided is not None and advisory_id not in undecided.get(package, ()):
                    entries.setdefault(advisory_id, [])
                    continue
            ranges = columns.ranges_from_json(ranges_json)
            versions = columns.strings_from_json(versions_json)
            entries.setdefault(advisory_id, []).append(Affected(package, ranges, versions))
        heads = self.database.rows(
            "select id, modified, published, withdrawn, aliases, severity, severity_vector, "
            "refs, group_id, group_ids, summary, malicious from advisories "
            "where id in (select value from json_each(?))",
            [json.dumps(sorted(entries))],
        )
        if lost := named - {head[0] for head in heads}:
            raise DatabaseError(
                f"{self.database.path}: {len(lost)} advisory record(s) the match index names "
                f"were not found ({', '.join(sorted(lost)[:3])}): the database changed while "
                "it was read",
                hint="run the command again; `triage db verify` checks the database",
            )
        advisories = []
        groups: dict[str, AliasGroup] = {}
        for head in heads:
            (advisory_id, modified, published, withdrawn, aliases, severity, vector, refs) = head[
                :8
            ]
            group_id, group_ids, summary, malicious = head[8:]
            advisories.append(
                Advisory(
                    id=advisory_id,
                    modified=modified,
                    published=published,
                    withdrawn=withdrawn,
                    aliases=columns.strings_from_json(aliases),
                    affected=tuple(entries[advisory_id]),
                    severity=Severity.parse(severity),
                    severity_vector=vector,
                    references=columns.strings_from_json(refs),
                    summary=summary,
                    malicious=bool(malicious),
                )
            )
            if group_id:
                groups[advisory_id] = AliasGroup(group_id, columns.strings_from_json(group_ids))
        return advisories, groups

    def info(self) -> DatabaseInfo:
        ((records, newest),) = self.database.rows("select count(*), max(modified) from advisories")
        sources = [r[0] for r in self.database.rows("select source from sources order by source")]
        return DatabaseInfo(
            digest=self.database.meta("digest") or "sha256:" + hashlib.sha256(b"").hexdigest(),
            records=int(records),
            newest_modified=newest,
            age_days=None,
            sources=tuple(sources),
            last_sync=self.database.meta("last_sync"),
        )

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` name an advisory record, or appear among a record's aliases."""
        wanted = json.dumps(sorted(set(ids)))
        rows = self.db.query(
            "select id from advisories where id in (select value from json_each(:ids)) "
            "union select alias.value from advisories, json_each(advisories.aliases) as alias "
            "where alias.value in (select value from json_each(:ids))",
            {"ids": wanted},
        )
        return {r["id"] for r in rows}
