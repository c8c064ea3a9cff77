"""The advisory database: SQLite through sqlite-utils. Schema, sync writes, lookups by name."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from triage.core.tracking import TrackedIssue
from triage.errors import DatabaseError
from triage.models import (
    Advisory,
    Affected,
    AliasGroup,
    Change,
    DatabaseInfo,
    Event,
    Severity,
    TriageRecord,
    TriageState,
    VersionRange,
)

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class StoredFile:
    fingerprint: str
    advisory_id: str | None


def _ranges_json(affected: Affected) -> str:
    return json.dumps([[[e.kind, e.version] for e in r.events] for r in affected.ranges])


def _ranges_from_json(text: str) -> tuple[VersionRange, ...]:
    return tuple(VersionRange(tuple(Event(k, v) for k, v in r)) for r in json.loads(text))


class AdvisoryDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(path)
            self._ensure_schema()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise DatabaseError(
                f"{path}: advisory database is unusable: {exc}",
                hint="point --db (or TRIAGE_DB) at a triage database, or remove the file and run "
                "`triage db sync`",
            ) from exc

    def close(self) -> None:
        self.db.close()

    def _ensure_schema(self) -> None:
        tables = set(self.db.table_names())
        if "meta" in tables:
            version = self.meta("schema_version")
            if version != SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path}: database schema {version!r} is not the supported "
                    f"{SCHEMA_VERSION!r}",
                    hint="remove the file and run `triage db sync` to rebuild it",
                )
            self._ensure_cache()
            return
        if tables:
            raise DatabaseError(
                f"{self.path}: not a triage advisory database "
                f"(tables: {', '.join(sorted(tables))})",
                hint="point --db at a triage database or at a new path",
            )
        with self.db.atomic():
            self.db.table("advisories").create(
                {
                    "id": str,
                    "modified": str,
                    "published": str,
                    "withdrawn": str,
                    "aliases": str,
                    "severity": str,
                    "severity_vector": str,
                    "refs": str,
                    "source": str,
                    "digest": str,
                    "group_id": str,
                    "group_ids": str,
                },
                pk="id",
            )
            self.db.table("affected").create(
                {"advisory_id": str, "package": str, "ranges": str, "versions": str},
                foreign_keys=[("advisory_id", "advisories", "id")],
            )
            self.db.table("affected").create_index(["package"])
            self.db.table("affected").create_index(["advisory_id"])
            self.db.table("source_files").create(
                {"source": str, "name": str, "fingerprint": str, "advisory_id": str},
                pk=("source", "name"),
            )
            self.db.table("sources").create(
                {"source": str, "kind": str, "revision": str, "last_sync": str, "records": int},
                pk="source",
            )
            self.db.table("meta").create({"key": str, "value": str}, pk="key")
            self.set_meta("schema_version", SCHEMA_VERSION)
            self._ensure_cache()

    def _ensure_cache(self) -> None:
        """Tables added after the first schema; created when missing."""
        self.db.table("lockfile_cache").create(
            {"blob": str, "contents": str}, pk="blob", if_not_exists=True
        )
        self.db.table("import_cache").create(
            {"sha256": str, "content": bytes}, pk="sha256", if_not_exists=True
        )
        self.db.table("provenance_cache").create(
            {"filename": str, "sha256": str, "provenance": str, "fetched": str},
            pk=("filename", "sha256"),
            if_not_exists=True,
        )
        self.db.table("audit_runs").create(
            {
                "id": int,
                "started": str,
                "finished": str,
                "scheduled_for": str,
                "digest": str,
                "counts": str,
                "outcome": str,
            },
            pk="id",
            if_not_exists=True,
        )
        self.db.table("findings").create(
            {
                "key": str,
                "advisory": str,
                "package": str,
                "versions": str,
                "severity": str,
                "status": str,
                "first_seen": str,
                "last_seen": str,
                "gone_since": str,
                "issue_url": str,
            },
            pk="key",
            if_not_exists=True,
        )
        self._add_columns("findings", {"state": str, "assignee": str, "due": str})
        self._add_columns("audit_runs", {"open_findings": int})
        self.db.table("finding_history").create(
            {
                "id": int,
                "key": str,
                "at": str,
                "who": str,
                "event": str,
                "detail": str,
                "state": str,
            },
            pk="id",
            if_not_exists=True,
        )
        for operation in ("update", "delete"):
            # The history is append-only: the database itself refuses to rewrite it.
            self.db.execute(
                f"create trigger if not exists finding_history_no_{operation} "
                f"before {operation} on finding_history "
                "begin select raise(abort, 'finding_history is append-only'); end"
            )
        self.db.table("local_issues").create(
            {
                "number": int,
                "key": str,
                "title": str,
                "body": str,
                "state": str,
                "labels": str,
                "created": str,
                "updated": str,
            },
            pk="number",
            if_not_exists=True,
        )
        self.db.table("local_comments").create(
            {"id": int, "number": int, "body": str, "created": str},
            pk="id",
            if_not_exists=True,
        )

    def _add_columns(self, table: str, columns: Mapping[str, type]) -> None:
        """Columns added since a table was first created, added to older databases."""
        existing = self.db.table(table).columns_dict
        for name, kind in columns.items():
            if name not in existing:
                self.db.table(table).add_column(name, kind)
        if table == "findings" and "state" not in existing:
            self.db.execute(
                "update findings set due = first_seen, state = case "
                "when gone_since is not null then 'fixed' when status = 'ignored' then 'ignored' "
                "else 'new' end"
            )

    # --- provenance fetched from PyPI --------------------------------------------------------

    def cached_provenance(self, filename: str, sha256: str) -> tuple[str, str] | None:
        """(provenance, fetched); an empty provenance records that PyPI had none."""
        rows = list(
            self.db.query(
                "select provenance, fetched from provenance_cache "
                "where filename = ? and sha256 = ?",
                [filename, sha256],
            )
        )
        return (rows[0]["provenance"], rows[0]["fetched"]) if rows else None

    def cache_provenance(self, filename: str, sha256: str, provenance: str, fetched: str) -> None:
        self.db.table("provenance_cache").upsert(
            {"filename": filename, "sha256": sha256, "provenance": provenance, "fetched": fetched},
            pk=("filename", "sha256"),
        )

    def cached_import(self, sha256: str) -> bytes | None:
        rows = list(self.db.query("select content from import_cache where sha256 = ?", [sha256]))
        return bytes(rows[0]["content"]) if rows else None

    def cache_import(self, sha256: str, content: bytes) -> None:
        self.db.table("import_cache").upsert({"sha256": sha256, "content": content}, pk="sha256")

    # --- lockfile readings by git blob id ----------------------------------------------------

    def cached_lockfile(self, blob: str) -> str | None:
        rows = list(self.db.query("select contents from lockfile_cache where blob = ?", [blob]))
        return rows[0]["contents"] if rows else None

    def cache_lockfile(self, blob: str, contents: str) -> None:
        self.db.table("lockfile_cache").upsert({"blob": blob, "contents": contents}, pk="blob")

    # --- meta ---------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.table("meta").upsert({"key": key, "value": value}, pk="key")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        with self.db.atomic():
            yield

    # --- sync ---------------------------------------------------------------------------------

    def record_count(self) -> int:
        return int(self.db.table("advisories").count)

    def stored_files(self, source: str) -> dict[str, StoredFile]:
        rows = self.db.query(
            "select name, fingerprint, advisory_id from source_files where source = ?", [source]
        )
        return {r["name"]: StoredFile(r["fingerprint"], r["advisory_id"]) for r in rows}

    def stored_modified(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        rows = self.db.query(
            "select id, modified, withdrawn from advisories "
            "where id in (select value from json_each(?))",
            [json.dumps(list(ids))],
        )
        return {r["id"]: (r["modified"], r["withdrawn"]) for r in rows}

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

    def finish_sync(self, sources: Iterable[Mapping[str, Any]], now: str) -> None:
        lines = "".join(
            f"{r['id']}:{r['digest']}\n"
            for r in self.db.query("select id, digest from advisories order by id")
        )
        self.set_meta("digest", "sha256:" + hashlib.sha256(lines.encode()).hexdigest())
        self.set_meta("last_sync", now)
        for row in sources:
            self.db.table("sources").upsert(dict(row), pk="source")
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
            digest=self.meta("digest") or "sha256:" + hashlib.sha256(b"").hexdigest(),
            records=self.record_count(),
            newest_modified=newest[0]["newest"] if newest else None,
            age_days=None,
            sources=tuple(sources),
            last_sync=self.meta("last_sync"),
        )


# --- audit runs, findings, the local tracker ---------------------------------------------------


@contextmanager
def audit_lock(db_path: Path) -> Iterator[bool]:
    """An exclusive lock beside the database: True when held, False when another audit holds
    it. The kernel drops it when a killed process dies, so a crash never leaves it stuck."""
    import fcntl

    lock_path = db_path.with_name(db_path.name + ".audit.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as exc:
        raise DatabaseError(
            f"{lock_path}: cannot take the audit lock: {exc.strerror}",
            hint="point --db at a writable place",
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _inserted_id(table: sqlite_utils.db.Table) -> int:
    if table.last_pk is None:
        raise DatabaseError(f"{table.name}: the database did not return the new row's id")
    return int(table.last_pk)


class AuditStore:
    """Audit runs and the findings they saw, in the advisory database."""

    def __init__(self, database: AdvisoryDatabase) -> None:
        self.db = database.db

    def succeeded_for(self, scheduled_for: str) -> bool:
        rows = self.db.query(
            "select 1 from audit_runs where scheduled_for = ? and outcome = 'ok' limit 1",
            [scheduled_for],
        )
        return any(True for _ in rows)

    def last_success(self) -> str | None:
        rows = list(
            self.db.query("select max(started) as started from audit_runs where outcome = 'ok'")
        )
        return rows[0]["started"] if rows else None

    def start(self, started: str, scheduled_for: str | None) -> int:
        table = self.db.table("audit_runs")
        table.insert({"started": started, "scheduled_for": scheduled_for, "outcome": "running"})
        return _inserted_id(table)

    def finish(
        self,
        run: int,
        finished: str,
        digest: str,
        counts: Mapping[str, int],
        outcome: str,
        open_findings: int | None,
    ) -> None:
        self.db.table("audit_runs").update(
            run,
            {
                "finished": finished,
                "digest": digest,
                "counts": json.dumps(dict(counts)),
                "outcome": outcome,
                "open_findings": open_findings,
            },
        )

    def runs(self) -> list[dict[str, Any]]:
        return list(self.db.query("select * from audit_runs order by id"))


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _record(row: Mapping[str, Any]) -> TriageRecord:
    return TriageRecord(
        key=row["key"],
        advisory=row["advisory"],
        package=row["package"],
        versions=tuple(json.loads(row["versions"] or "[]")),
        severity=row["severity"],
        state=TriageState(row["state"]),
        first_seen=_time(row["first_seen"]),
        last_seen=_time(row["last_seen"]),
        due=_time(row["due"]),
        gone_since=_time(row["gone_since"]) if row["gone_since"] else None,
        assignee=row["assignee"],
        issue_url=row["issue_url"],
    )


class TriageStore:
    """Per finding key: triage state, SLA due date, assignee, tracking issue; and the
    append-only history of every change, with who made it and when."""

    def __init__(self, database: AdvisoryDatabase) -> None:
        self.db = database.db

    def records(self) -> list[TriageRecord]:
        return [_record(r) for r in self.db.query("select * from findings order by key")]

    def record(self, key: str) -> TriageRecord | None:
        rows = list(self.db.query("select * from findings where key = ?", [key]))
        return _record(rows[0]) if rows else None

    def save(
        self,
        records: Iterable[TriageRecord],
        changes: Iterable[Change],
        statuses: Mapping[str, str] | None = None,
    ) -> None:
        """Store records and append their history, all or nothing. `statuses` is the policy
        status (active, ignored, ignore-expired) the audit saw, by key."""
        with self.db.atomic():
            for record in records:
                row: dict[str, Any] = {
                    "key": record.key,
                    "advisory": record.advisory,
                    "package": record.package,
                    "versions": json.dumps(list(record.versions)),
                    "severity": record.severity,
                    "state": record.state.value,
                    "first_seen": _stamp(record.first_seen),
                    "last_seen": _stamp(record.last_seen),
                    "due": _stamp(record.due),
                    "gone_since": _stamp(record.gone_since) if record.gone_since else None,
                    "assignee": record.assignee,
                    "issue_url": record.issue_url,
                }
                if statuses is not None and record.key in statuses:
                    row["status"] = statuses[record.key]
                self.db.table("findings").upsert(row, pk="key")
            self.db.table("finding_history").insert_all(
                {
                    "key": change.key,
                    "at": _stamp(change.at),
                    "who": change.who,
                    "event": change.event,
                    "detail": change.detail,
                    "state": change.state.value,
                }
                for change in changes
            )

    def history(self, key: str | None = None) -> list[Change]:
        where, params = ("where key = ?", [key]) if key is not None else ("", [])
        return [
            Change(
                r["key"], _time(r["at"]), r["who"], r["event"], r["detail"], TriageState(r["state"])
            )
            for r in self.db.query(f"select * from finding_history {where} order by id", params)
        ]

    def open_over_time(self) -> list[tuple[dt.datetime, int]]:
        rows = self.db.query(
            "select started, open_findings from audit_runs "
            "where outcome = 'ok' and open_findings is not null order by started"
        )
        return [(_time(r["started"]), int(r["open_findings"])) for r in rows]

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


class LocalTracker:
    """Tracking issues in the database, for running without GitHub (`triage issues`)."""

    def __init__(self, database: AdvisoryDatabase, now: str) -> None:
        self.db = database.db
        self.now = now

    def _issue(self, row: Mapping[str, Any]) -> TrackedIssue:
        return TrackedIssue(
            row["number"],
            row["key"],
            row["state"] == "open",
            f"triage-local:{row['number']}",
            row["body"],
        )

    def tracked_issues(self) -> dict[str, TrackedIssue]:
        return {r["key"]: self._issue(r) for r in self.db.query("select * from local_issues")}

    def all_issues(self) -> list[dict[str, Any]]:
        return list(self.db.query("select * from local_issues order by number"))

    def comments(self, number: int) -> list[str]:
        rows = self.db.query(
            "select body from local_comments where number = ? order by id", [number]
        )
        return [r["body"] for r in rows]

    def ensure_labels(self, labels: Sequence[str]) -> None:
        return None  # the local tracker stores labels with each issue

    def open_issue(self, key: str, title: str, body: str, labels: Sequence[str]) -> TrackedIssue:
        with self.db.atomic():
            table = self.db.table("local_issues")
            table.insert(
                {
                    "key": key,
                    "title": title,
                    "body": body,
                    "state": "open",
                    "labels": json.dumps(list(labels)),
                    "created": self.now,
                    "updated": self.now,
                }
            )
            number = _inserted_id(table)
        return TrackedIssue(number, key, True, f"triage-local:{number}", body)

    def comment(self, number: int, text: str) -> None:
        self.db.table("local_comments").insert(
            {"number": number, "body": text, "created": self.now}
        )

    def edit_body(self, number: int, body: str) -> None:
        self.db.table("local_issues").update(number, {"body": body, "updated": self.now})

    def close(self, number: int, comment: str) -> None:
        with self.db.atomic():
            self.comment(number, comment)
            self.db.table("local_issues").update(number, {"state": "closed", "updated": self.now})

    def reopen(self, number: int, comment: str) -> None:
        with self.db.atomic():
            self.db.table("local_issues").update(number, {"state": "open", "updated": self.now})
            self.comment(number, comment)
