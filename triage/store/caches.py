"""What was fetched or parsed once and is kept so later runs work offline and fast:
provenance from PyPI, imported audit files by their pinned sha256, lockfile readings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from triage.store.connection import Database, parse_stamp, stamp

if TYPE_CHECKING:
    import sqlite_utils


class Caches:
    def __init__(self, database: Database) -> None:
        self.database = database

    @property
    def db(self) -> sqlite_utils.Database:
        return self.database.db

    def cached_provenances(
        self, artifacts: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, dt.datetime | None]]:
        """(provenance, when fetched) by (filename, sha256), for those cached, in one query (a
        lockfile of every platform's wheels has thousands); an empty provenance records that
        PyPI had none."""
        wanted = json.dumps([list(pair) for pair in set(artifacts)])
        rows = self.database.rows(
            "select c.filename, c.sha256, c.provenance, c.fetched from provenance_cache c "
            "join json_each(?) w on c.filename = json_extract(w.value, '$[0]') "
            "and c.sha256 = json_extract(w.value, '$[1]')",
            [wanted],
        )
        return {(f, s): (p, parse_stamp(fetched)) for f, s, p, fetched in rows}

    def cache_provenance(
        self, filename: str, sha256: str, provenance: str, fetched: dt.datetime
    ) -> None:
        self.db.table("provenance_cache").upsert(
            {
                "filename": filename,
                "sha256": sha256,
                "provenance": provenance,
                "fetched": stamp(fetched),
            },
            pk=("filename", "sha256"),
        )

    def cached_import(self, sha256: str) -> bytes | None:
        rows = list(self.db.query("select content from import_cache where sha256 = ?", [sha256]))
        return bytes(rows[0]["content"]) if rows else None

    def cache_import(self, sha256: str, content: bytes) -> None:
        self.db.table("import_cache").upsert({"sha256": sha256, "content": content}, pk="sha256")

    def cached_lockfile(self, key: str) -> str | None:
        rows = self.database.rows("select contents from lockfile_cache where blob = ?", [key])
        return str(rows[0][0]) if rows else None

    def cache_lockfile(self, key: str, contents: str) -> None:
        self.database.write(
            "insert into lockfile_cache (blob, contents) values (?, ?) "
            "on conflict (blob) do update set contents = excluded.contents",
            [key, contents],
        )

    def cached_licenses(self, releases: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """License metadata (JSON; "null" when PyPI has no such release) by (name, version)."""
        wanted = json.dumps([list(r) for r in releases])
        rows = self.database.rows(
            "select c.name, c.version, c.metadata from license_cache c "
            "join json_each(?) w on c.name = json_extract(w.value, '$[0]') "
            "and c.version = json_extract(w.value, '$[1]')",
            [wanted],
        )
        return {(name, version): metadata for name, version, metadata in rows}

    def cache_license(self, name: str, version: str, metadata: str, fetched: dt.datetime) -> None:
        self.database.write(
            "insert into license_cache (name, version, metadata, fetched) values (?, ?, ?, ?) "
            "on conflict (name, version) do update set metadata = excluded.metadata, "
            "fetched = excluded.fetched",
            [name, version, metadata, stamp(fetched)],
        )
