"""What the last audit's lookups found the index saying of the locked releases (yanked files,
project status): kept so that commands that never ask the index (`scan`, `show`, `sbom`) carry
it, with the time it was true. The notes are what the index answered, which nothing here can
derive again: they are kept under a seal (a digest of every note and the time, written with
them), and a set that does not match it (a note added, edited or deleted by hand) is not
believed at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from msgspec import Struct

from triage.models import IndexNote, Level
from triage.store.connection import Database, parse_stamp, stamp
from triage.store.derived import row_digest

CHECKED = "index_notes_checked"  # meta: when the index answered for every kept note
SEAL = "index_notes_seal"  # meta: seal() of the kept notes and CHECKED

NoteRow = tuple[
    str, str, str, str, str | None, str
]  # package, version, kind, detail, reason, level


class KeptNotes(Struct, frozen=True):
    notes: list[IndexNote]
    checked: dt.datetime | None  # when the index was asked (None: never, or not believed)
    broken: bool = False  # the kept notes did not match their seal: none is believed


def seal(rows: Sequence[Sequence[str | None]], checked: str | None) -> str:
    """The digest a kept set of notes is sealed with: every field of every note (in the
    order `recorded` reads them) and the time they were true."""
    return row_digest(checked, *(field for row in rows for field in row))


ROWS = (
    "select package, version, kind, detail, reason, level from index_notes "
    "order by package, version, kind, detail, reason, level"
)


class IndexNoteStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def replace(self, notes: Iterable[IndexNote], *, checked: dt.datetime) -> None:
        """The notes of a run whose lookups all answered, in place of the last run's."""
        moment = stamp(checked)
        conn = self.database.conn
        with conn:
            conn.execute("delete from index_notes")
            conn.executemany(
                "insert into index_notes (package, version, kind, detail, reason, level) "
                "values (?, ?, ?, ?, ?, ?)",
                [(n.package, n.version, n.kind, n.detail, n.reason, n.level.value) for n in notes],
            )
            kept = conn.execute(ROWS).fetchall()  # sealed as `recorded` will read them
            for key, value in ((CHECKED, moment), (SEAL, seal(kept, moment))):
                conn.execute(
                    "insert into meta (key, value) values (?, ?) "
                    "on conflict (key) do update set value = excluded.value",
                    [key, value],
                )

    def recorded(self) -> KeptNotes:
        """The notes kept, and when the index was asked. Their level is the one the audit's
        policy gave; a reader judges them again by its own."""
        rows = self.database.rows(ROWS)
        checked = self.database.meta(CHECKED)
        if not rows and checked is None:
            return KeptNotes([], None)
        if self.database.meta(SEAL) != seal(rows, checked):
            return KeptNotes([], None, broken=True)
        known = {level.value: level for level in Level}
        notes = [
            IndexNote(package, version, kind, detail, reason, known.get(level, Level.DENY))
            for package, version, kind, detail, reason, level in rows
        ]
        return KeptNotes(notes, parse_stamp(checked))

    def forget(self) -> None:
        """Notes that cannot be believed: gone, until an audit asks the index again (in the
        caller's transaction, if one is open)."""
        self.database.write("delete from index_notes")
        self.database.write("delete from meta where key in (?, ?)", [CHECKED, SEAL])
