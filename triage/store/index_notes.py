"""What the last audit's lookups found the index saying of the locked releases (yanked files,
project status): kept so that commands that never ask the index (`scan`, `show`, `sbom`) carry
it, with the time it was true."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from triage.models import IndexNote, Level
from triage.store.connection import Database, parse_stamp, stamp

CHECKED = "index_notes_checked"  # meta: when the index answered for every kept note


class IndexNoteStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def replace(self, notes: Iterable[IndexNote], *, checked: dt.datetime) -> None:
        """The notes of a run whose lookups all answered, in place of the last run's."""
        rows = [(n.package, n.version, n.kind, n.detail, n.reason, n.level.value) for n in notes]
        conn = self.database.conn
        with conn:
            conn.execute("delete from index_notes")
            conn.executemany(
                "insert into index_notes (package, version, kind, detail, reason, level) "
                "values (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                "insert into meta (key, value) values (?, ?) "
                "on conflict (key) do update set value = excluded.value",
                [CHECKED, stamp(checked)],
            )

    def recorded(self) -> tuple[list[IndexNote], dt.datetime | None]:
        """The notes kept, and when the index was asked (None: never). Their level is the one
        the audit's policy gave; a reader judges them again by its own."""
        rows = self.database.rows(
            "select package, version, kind, detail, reason, level from index_notes "
            "order by package, version, kind, detail"
        )
        known = {level.value: level for level in Level}
        notes = [
            IndexNote(package, version, kind, detail, reason, known.get(level, Level.DENY))
            for package, version, kind, detail, reason, level in rows
        ]
        return notes, parse_stamp(self.database.meta(CHECKED))
