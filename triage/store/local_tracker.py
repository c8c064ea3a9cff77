"""Tracking issues kept in the database, for running without GitHub (`triage issues`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from triage.store.connection import Database, inserted_id, stamp

if TYPE_CHECKING:
    from triage.core.tracking import TrackedIssue


class LocalTracker:
    """Tracking issues in the database, for running without GitHub (`triage issues`)."""

    def __init__(self, database: Database, now: dt.datetime) -> None:
        self.db = database.db
        self.now = stamp(now)

    def _issue(self, row: Mapping[str, Any]) -> TrackedIssue:
        from triage.core.tracking import TrackedIssue  # the tracking rules: not for a scan

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

    def open_issue(self, key: str, title: str, body: str, *, labels: Sequence[str]) -> TrackedIssue:
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
            number = inserted_id(table)
        return self._issue({"number": number, "key": key, "state": "open", "body": body})

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
