"""Advisory records as synced: what each source provided, the records, their alias groups,
and the lookups a scan makes by package name."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triage.models import (
    Advisory,
    Affected,
    AliasGroup,
    DatabaseInfo,
    Event,
    Severity,
    VersionRange,
)
from triage.store.connection import Database, stamp


@dataclass(frozen=True)
class StoredFile:
    fingerprint: str
    advisory_id: str | None


@dataclass(frozen=True)
class SourceRow:
    """One synced source, as `sources` records it."""

    source: str
    kind: str
    revision: str | None
    records: int


def _ranges_json(affected: Affected) -> str:
    return json.dumps([[[e.kind, e.version] for e in r.events] for r in affected.ranges])


def _ranges_from_json(text: str) -> tuple[VersionRange, ...]:
    return tuple(VersionRange(tuple(Event(k, v) for k, v in r)) for r in json.loads(text))


class AdvisoryStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.db = database.db

    def record_count(self) -> int:
        return int(self.db.table("advisories").count)

    def stored_files(self, source: str) -> dict[str, StoredFile]:
        rows = self.db.query(
            "select name, fingerprint, advisory_id from source_files where source = ?", [source]
        )
        return {r["name"]: StoredFile(r["fingerprint"], r["advisory_id"]) for r in rows}

    def stored_state(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """By id: the stored record's content digest and its withdrawal time."""
        rows = self.db.query(
            "select id, digest, withdrawn from advisories "
            "where id in (select value from json_each(?))",
            [json.dumps(list(ids))],
        )
        return {r["id"]: (r["digest"], r["withdrawn"]) for r in rows}

    def ids_still_provided(self, ids: Iterable[str]) -> set[str]:
        rows = self.db.query(
            "select distinct advisory_id from source_files "
            "where advisory_id in (select value from json_each(?))",
            [json.dumps(list(ids))],
        )
        return {r["advisory_id"] for r in rows}

    def put_file(self, source: str, name: str, fingerprint: str, advisory_id: str | None) -> None:
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

    def put_advisory(self, advisory: Advisory, source: str, digest: str) -> None:
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
                "source": source,
                "digest": digest,
            },
            pk="id",
        )
        self.db.table("affected").insert_all(
            {
                "advisory_id": advisory.id,
                "package": entry.package,
                "ranges": _ranges_json(entry),
                "versions": json.dumps(list(entry.versions)),
            }
            for entry in advisory.affected
        )

    def drop_advisory(self, advisory_id: str) -> None:
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
        """The content digest over every record, the sync's time, and the sources it read."""
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
                },
                pk="source",
            )
        self.db.execute(
            "delete from sources where source not in (select distinct source from source_files)"
        )

    # --- lookups ------------------------------------------------------------------------------

    def candidates(self, names: Iterable[str]) -> tuple[list[Advisory], dict[str, AliasGroup]]:
        """Records with an affected entry for any of `names` (only those entries), and groups."""
        rows = self.db.query(
            "select f.package, f.ranges, f.versions, a.id, a.modified, a.published, a.withdrawn, "
            "a.aliases, a.severity, a.severity_vector, a.refs, a.group_id, a.group_ids "
            "from affected f join advisories a on a.id = f.advisory_id "
            "where f.package in (select value from json_each(?))",
            [json.dumps(sorted(set(names)))],
        )
        entries: dict[str, list[Affected]] = {}
        heads: dict[str, dict[str, Any]] = {}
        for r in rows:
            heads.setdefault(r["id"], r)
            entries.setdefault(r["id"], []).append(
                Affected(
                    r["package"], _ranges_from_json(r["ranges"]), tuple(json.loads(r["versions"]))
                )
            )
        advisories = []
        groups: dict[str, AliasGroup] = {}
        for advisory_id, head in heads.items():
            advisories.append(
                Advisory(
                    id=advisory_id,
                    modified=head["modified"],
                    published=head["published"],
                    withdrawn=head["withdrawn"],
                    aliases=tuple(json.loads(head["aliases"])),
                    affected=tuple(entries[advisory_id]),
                    severity=Severity.parse(head["severity"]),
                    severity_vector=head["severity_vector"],
                    references=tuple(json.loads(head["refs"])),
                )
            )
            if head["group_id"]:
                groups[advisory_id] = AliasGroup(
                    head["group_id"], tuple(json.loads(head["group_ids"]))
                )
        return advisories, groups

    def info(self) -> DatabaseInfo:
        newest = list(self.db.query("select max(modified) as newest from advisories"))
        sources = [r["source"] for r in self.db.query("select source from sources order by source")]
        return DatabaseInfo(
            digest=self.database.meta("digest") or "sha256:" + hashlib.sha256(b"").hexdigest(),
            records=self.record_count(),
            newest_modified=newest[0]["newest"] if newest else None,
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
