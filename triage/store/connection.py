"""The database connection: opened (and migrated) once per use, closed by its context.

Reads that every scan makes go through the plain sqlite3 connection; sqlite-utils (about a
fifth of a scan's start-up) is loaded only when something writes or migrates."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from triage.errors import DatabaseError

if TYPE_CHECKING:
    import sqlite_utils

# Mirrors len(migrations.MIGRATIONS) (a test checks), so opening an up-to-date database does
# not load the migrations and sqlite-utils with them.
SCHEMA_VERSION = 14


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

    def __init__(self, path: Path, *, read_only: bool = False, threads: bool = False) -> None:
        """`read_only`: a worker's pinned copy, opened as it is (never created or migrated).
        `threads`: used by one thread at a time, closed by whoever started the threads."""
        self.path = path
        try:
            if read_only:
                # Used by one thread at a time; closed by whoever started the threads.
                uri = f"{path.resolve().as_uri()}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                self.conn.execute("pragma query_only = on")
                self._check_current()
                return
            self.conn = sqlite3.connect(path, check_same_thread=not threads)
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

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for writes and migrations."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read, as plain tuples."""
        return self.conn.execute(sql, parameters).fetchall()

    def write(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """One statement, committed now unless a transaction is already open around it."""
        outside = not self.conn.in_transaction
        self.conn.execute(sql, parameters)
        if outside:
            self.conn.commit()

    def _migrate(self) -> None:
        tables = {
            name for (name,) in self.rows("select name from sqlite_master where type = 'table'")
        }
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
        if version < SCHEMA_VERSION:
            from triage.store.migrations import MIGRATIONS

            for number in range(version + 1, SCHEMA_VERSION + 1):
                with self.db.atomic():
                    MIGRATIONS[number - 1](self.db)
                    self.set_meta("schema_version", str(number))

    def _check_current(self) -> None:
        found = self.meta("schema_version")
        if found != str(SCHEMA_VERSION):
            raise DatabaseError(
                f"{self.path}: database schema {found!r}, not this triage's {SCHEMA_VERSION}",
                hint="sync the copy with this version of triage (`triage db sync --db ...`)",
            )

    def meta(self, key: str) -> str | None:
        rows = self.rows("select value from meta where key = ?", [key])
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(
            "insert into meta (key, value) values (?, ?) "
            "on conflict (key) do update set value = excluded.value",
            [key, value],
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all; inside an open transaction it
        is part of that one. (Plain sqlite3: a diff that only reads cached readings does not
        load sqlite-utils.)"""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.execute("COMMIT")


def inserted_id(table: sqlite_utils.db.Table) -> int:
    if table.last_pk is None:
        raise DatabaseError(f"{table.name}: the database did not return the new row's id")
    return int(table.last_pk)
