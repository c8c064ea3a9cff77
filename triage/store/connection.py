"""The database connection: opened (and migrated) once per use, closed by its context."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import sqlite_utils

from triage.errors import DatabaseError
from triage.store.migrations import MIGRATIONS, SCHEMA_VERSION


def stamp(moment: dt.datetime) -> str:
    """How a moment is stored: ISO 8601 to the second."""
    return moment.isoformat(timespec="seconds")


def parse_stamp(text: str | None) -> dt.datetime | None:
    """A stored moment; one without a zone is UTC, one that does not parse is unknown."""
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(text[:19])
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Database:
    """One open triage database. Use it as a context manager: it closes on the way out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(path)
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise DatabaseError(
                f"{path}: advisory database is unusable: {exc}",
                hint="point --db (or TRIAGE_DB) at a triage database, or remove the file and run "
                "`triage db sync`",
            ) from exc

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Closes; an SQLite failure inside the block (corrupted pages, a read-only disk, a
        full one) becomes a DatabaseError naming the file: exit 3, never a traceback."""
        self.close()
        if isinstance(error, sqlite3.Error):
            raise DatabaseError(
                f"{self.path}: advisory database is unusable: {error}",
                hint="check the disk it is on (writable, not full); if the file is damaged, "
                "remove it and run `triage db sync`",
            ) from error

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        tables = set(self.db.table_names())
        if "meta" in tables:
            found = self.meta("schema_version")
            version = int(found) if found and found.isdigit() else -1
            if not 1 <= version <= SCHEMA_VERSION:
                raise DatabaseError(
                    f"{self.path}: database schema {found!r} is not one this triage reads "
                    f"(1 to {SCHEMA_VERSION})",
                    hint="remove the file and run `triage db sync` to rebuild it",
                )
        elif tables:
            raise DatabaseError(
                f"{self.path}: not a triage advisory database "
                f"(tables: {', '.join(sorted(tables))})",
                hint="point --db at a triage database or at a new path",
            )
        else:
            version = 0
        for number in range(version + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                MIGRATIONS[number - 1](self.db)
                self.set_meta("schema_version", str(number))

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


def inserted_id(table: sqlite_utils.db.Table) -> int:
    if table.last_pk is None:
        raise DatabaseError(f"{table.name}: the database did not return the new row's id")
    return int(table.last_pk)
