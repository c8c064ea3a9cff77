"""Per finding key: triage state, SLA due date, assignee, tracking issue; and the append-only
history of every change."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from triage.models import Change, FindingKey, TriageRecord, TriageState
from triage.store.connection import Database, stamp


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _record(row: Mapping[str, Any]) -> TriageRecord:
    return TriageRecord(
        key=FindingKey.parse(row["key"]),
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
        malicious=bool(row.get("malicious")),
    )


class TriageStore:
    """Per finding key: triage state, SLA due date, assignee, tracking issue; and the
    append-only history of every change, with who made it and when."""

    def __init__(self, database: Database) -> None:
        self.db = database.db

    def records(self, under: str | None = None) -> list[TriageRecord]:
        """Every record, or those whose key starts with `under` (one repository's)."""
        if under is None:
            return [_record(r) for r in self.db.query("select * from findings order by key")]
        return [
            _record(r)
            for r in self.db.query(
                "select * from findings where substr(key, 1, ?) = ? order by key",
                [len(under), under],
            )
        ]

    def record(self, key: FindingKey) -> TriageRecord | None:
        rows = list(self.db.query("select * from findings where key = ?", [str(key)]))
        return _record(rows[0]) if rows else None

    def save(
        self,
        records: Iterable[TriageRecord],
        changes: Iterable[Change],
        statuses: Mapping[FindingKey, str] | None = None,
    ) -> None:
        """Store records and append their history, all or nothing. `statuses` is the policy
        status (active, ignored, ignore-expired) the audit saw, by key."""
        with self.db.atomic():
            for record in records:
                row: dict[str, Any] = {
                    "key": str(record.key),
                    "advisory": record.advisory,
                    "package": record.package,
                    "versions": json.dumps(list(record.versions)),
                    "severity": record.severity,
                    "state": record.state.value,
                    "first_seen": stamp(record.first_seen),
                    "last_seen": stamp(record.last_seen),
                    "due": stamp(record.due),
                    "gone_since": stamp(record.gone_since) if record.gone_since else None,
                    "assignee": record.assignee,
                    "issue_url": record.issue_url,
                    "malicious": int(record.malicious),
                }
                if statuses is not None and record.key in statuses:
                    row["status"] = statuses[record.key]
                self.db.table("findings").upsert(row, pk="key")
            self.db.table("finding_history").insert_all(
                {
                    "key": str(change.key),
                    "at": stamp(change.at),
                    "who": change.who,
                    "event": change.event,
                    "detail": change.detail,
                    "state": change.state.value,
                }
                for change in changes
            )

    def history(self, key: FindingKey | None = None, *, under: str | None = None) -> list[Change]:
        """The history of `key`, of the keys starting with `under`, or of every key."""
        where, params = "", list[object]()
        if key is not None:
            where, params = "where key = ?", [str(key)]
        elif under is not None:
            where, params = "where substr(key, 1, ?) = ?", [len(under), under]
        return [
            Change(
                FindingKey.parse(r["key"]),
                _time(r["at"]),
                r["who"],
                r["event"],
                r["detail"],
                TriageState(r["state"]),
            )
            for r in self.db.query(f"select * from finding_history {where} order by id", params)
        ]
