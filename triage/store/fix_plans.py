"""The last fix plan of each finding key, for `triage show`: written by `triage fix`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from triage.models import FindingKey, FixNote
from triage.store.connection import Database, stamp


class FixPlanStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def save(self, notes: Iterable[FixNote]) -> None:
        rows = [
            {
                "key": str(n.key),
                "plan": n.plan,
                "state": n.state,
                "pull_url": n.pull_url,
                "at": stamp(n.at),
            }
            for n in notes
        ]
        if rows:
            self.database.db.table("fix_plans").upsert_all(rows, pk="key")

    def note(self, key: FindingKey) -> FixNote | None:
        rows = self.database.rows(
            "select plan, state, pull_url, at from fix_plans where key = ?", [str(key)]
        )
        if not rows:
            return None
        plan, state, pull_url, at = rows[0]
        return FixNote(key, plan, state, pull_url, dt.datetime.fromisoformat(at))
