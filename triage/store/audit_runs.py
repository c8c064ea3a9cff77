"""The daily audit's runs, and the lock that keeps two audits off one database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from triage.errors import DatabaseError
from triage.store.connection import Database, inserted_id, parse_stamp, stamp


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


class AuditStore:
    """Audit runs: when each started and finished, for which scheduled slot, with what result;
    this repository's (org None) or an organisation's (`triage org audit`), kept apart."""

    def __init__(self, database: Database) -> None:
        self.db = database.db

    def succeeded_for(self, scheduled_for: dt.datetime, org: str | None = None) -> bool:
        rows = self.db.query(
            "select 1 from audit_runs where scheduled_for = ? and outcome = 'ok' and org is ? "
            "limit 1",
            [stamp(scheduled_for), org],
        )
        return any(True for _ in rows)

    def last_success(self, org: str | None = None) -> dt.datetime | None:
        rows = list(
            self.db.query(
                "select max(started) as started from audit_runs where outcome = 'ok' and org is ?",
                [org],
            )
        )
        return parse_stamp(rows[0]["started"]) if rows else None

    def start(
        self, started: dt.datetime, scheduled_for: dt.datetime | None, org: str | None = None
    ) -> int:
        table = self.db.table("audit_runs")
        table.insert(
            {
                "started": stamp(started),
                "scheduled_for": stamp(scheduled_for) if scheduled_for else None,
                "outcome": "running",
                "org": org,
            }
        )
        return inserted_id(table)

    def finish(
        self,
        run: int,
        finished: dt.datetime,
        digest: str,
        *,
        counts: Mapping[str, int],
        outcome: str,
        open_findings: int | None,
    ) -> None:
        self.db.table("audit_runs").update(
            run,
            {
                "finished": stamp(finished),
                "digest": digest,
                "counts": json.dumps(dict(counts)),
                "outcome": outcome,
                "open_findings": open_findings,
            },
        )

    def runs(self, org: str | None = None) -> list[dict[str, Any]]:
        return list(self.db.query("select * from audit_runs where org is ? order by id", [org]))

    def open_over_time(self, org: str | None = None) -> list[tuple[dt.datetime, int]]:
        """Open findings after each successful run, oldest first."""
        rows = self.db.query(
            "select started, open_findings from audit_runs "
            "where outcome = 'ok' and open_findings is not null and org is ? order by started",
            [org],
        )
        return [(dt.datetime.fromisoformat(r["started"]), int(r["open_findings"])) for r in rows]
