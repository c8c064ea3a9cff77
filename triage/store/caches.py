"""What was fetched or parsed once and is kept so later runs work offline and fast:
provenance from PyPI, imported audit files by their pinned sha256, lockfile readings, license
metadata. Each row carries a digest of itself (store/derived.py), checked whenever it is read:
a row that does not match is not used (it is read, parsed or fetched again) and is named in
`rejected`, for the command to say so."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from msgspec import Struct

from triage.store.connection import Database, parse_stamp, stamp
from triage.store.derived import pack, row_digest, unpack

if TYPE_CHECKING:
    import sqlite_utils


class CachedLicense(Struct, frozen=True):
    """A release's license metadata as kept: the answer PyPI gave (None: no such release, or
    kept without it), what was derived from it, and by which deriver."""

    metadata: str
    raw: bytes | None
    deriver: str | None


def answer_digest(raw: bytes | None) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest() if raw is not None else "absent"


def _unpacked_text(data: bytes | None) -> str:
    """What a packed column holds, as text ("" when it does not unpack: its digest fails)."""
    raw = unpack(data)
    return raw.decode("utf-8", errors="replace") if raw is not None else ""


class Caches:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.rejected: list[str] = []  # rows whose digest did not match: not used

    @property
    def db(self) -> sqlite_utils.Database:
        return self.database.db

    def _reject(self, table: str, key: str) -> None:
        self.rejected.append(
            f"{table} {key}: the cached row does not match its own digest (edited or damaged); "
            "it was not used"
        )

    def cached_provenances(
        self, artifacts: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, dt.datetime | None]]:
        """(provenance, when fetched) by (filename, sha256), for those cached, in one query (a
        lockfile of every platform's wheels has thousands); an empty provenance records that
        PyPI had none."""
        wanted = json.dumps([list(pair) for pair in set(artifacts)])
        rows = self.database.rows(
            "select c.filename, c.sha256, c.provenance, c.fetched, c.digest "
            "from provenance_cache c join json_each(?) w "
            "on c.filename = json_extract(w.value, '$[0]') "
            "and c.sha256 = json_extract(w.value, '$[1]')",
            [wanted],
        )
        found = {}
        for filename, sha256, provenance, fetched, digest in rows:
            if digest != row_digest(filename, sha256, provenance, fetched):
                self._reject("provenance_cache", filename)
                continue
            found[(filename, sha256)] = (provenance, parse_stamp(fetched))
        return found

    def cache_provenance(
        self, filename: str, sha256: str, provenance: str, *, fetched: dt.datetime
    ) -> None:
        moment = stamp(fetched)
        self.database.write(
            "insert into provenance_cache (filename, sha256, provenance, fetched, digest) "
            "values (?, ?, ?, ?, ?) on conflict (filename, sha256) do update set "
            "provenance = excluded.provenance, fetched = excluded.fetched, "
            "digest = excluded.digest",
            [
                filename,
                sha256,
                provenance,
                moment,
                row_digest(filename, sha256, provenance, moment),
            ],
        )

    def cached_page(self, url: str) -> tuple[str | None, str, dt.datetime | None] | None:
        """A project page kept by its URL: (its ETag, its files as JSON, when it was fetched),
        when intact."""
        rows = self.database.rows(
            "select etag, files, fetched, digest from index_pages where url = ?", [url]
        )
        if not rows:
            return None
        etag, files, fetched, digest = rows[0]
        text = _unpacked_text(files)
        if digest != row_digest(url, etag, text, fetched):
            self._reject("index_pages", url)
            return None
        return etag, text, parse_stamp(fetched)

    def cache_page(self, url: str, etag: str | None, files: str, *, fetched: dt.datetime) -> None:
        moment = stamp(fetched)
        self.database.write(
            "insert into index_pages (url, etag, files, fetched, digest) values (?, ?, ?, ?, ?) "
            "on conflict (url) do update set etag = excluded.etag, files = excluded.files, "
            "fetched = excluded.fetched, digest = excluded.digest",
            [url, etag, pack(files.encode()), moment, row_digest(url, etag, files, moment)],
        )

    def cached_import(self, sha256: str) -> bytes | None:
        """An imported audit file by its pin; one that no longer hashes to it is not one."""
        rows = self.database.rows("select content from import_cache where sha256 = ?", [sha256])
        if not rows:
            return None
        content = bytes(rows[0][0])
        if hashlib.sha256(content).hexdigest() != sha256:
            self._reject("import_cache", sha256)
            return None
        return content

    def cache_import(self, sha256: str, content: bytes) -> None:
        self.db.table("import_cache").upsert({"sha256": sha256, "content": content}, pk="sha256")

    def cached_lockfile(self, key: str) -> str | None:
        rows = self.database.rows(
            "select contents, digest from lockfile_cache where blob = ?", [key]
        )
        if not rows:
            return None
        contents, digest = rows[0]
        if digest != row_digest(key, contents):
            self._reject("lockfile_cache", key)
            return None
        return str(contents)

    def cache_lockfile(self, key: str, contents: str, source: bytes | None = None) -> None:
        """A reading by its key (reader build, format, content id), with the bytes it was
        read from when they are at hand, so `db verify` can read them again."""
        self.database.write(
            "insert into lockfile_cache (blob, contents, source, digest) values (?, ?, ?, ?) "
            "on conflict (blob) do update set contents = excluded.contents, "
            "source = coalesce(excluded.source, lockfile_cache.source), "
            "digest = excluded.digest",
            [
                key,
                contents,
                pack(source) if source is not None else None,
                row_digest(key, contents),
            ],
        )

    def cached_licenses(
        self, releases: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedLicense]:
        """License rows by (name, version) whose digest holds."""
        wanted = json.dumps([list(r) for r in releases])
        rows = self.database.rows(
            "select c.name, c.version, c.metadata, c.raw, c.inputs, c.deriver, c.fetched, "
            "c.digest from license_cache c join json_each(?) w "
            "on c.name = json_extract(w.value, '$[0]') "
            "and c.version = json_extract(w.value, '$[1]')",
            [wanted],
        )
        found = {}
        for name, version, metadata, raw, inputs, deriver, fetched, digest in rows:
            answer = unpack(raw) if raw is not None else None
            if digest != row_digest(
                name, version, metadata, inputs, deriver, fetched
            ) or inputs != answer_digest(answer):
                self._reject("license_cache", f"{name} {version}")
                continue
            found[(name, version)] = CachedLicense(metadata, answer, deriver)
        return found

    def cache_license(
        self,
        name: str,
        version: str,
        found: CachedLicense,
        *,
        fetched: dt.datetime,
    ) -> None:
        moment, inputs = stamp(fetched), answer_digest(found.raw)
        self.database.write(
            "insert into license_cache (name, version, metadata, fetched, raw, inputs, deriver, "
            "digest) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (name, version) do update set "
            "metadata = excluded.metadata, fetched = excluded.fetched, raw = excluded.raw, "
            "inputs = excluded.inputs, deriver = excluded.deriver, digest = excluded.digest",
            [
                name,
                version,
                found.metadata,
                moment,
                pack(found.raw) if found.raw is not None else None,
                inputs,
                found.deriver,
                row_digest(name, version, found.metadata, inputs, found.deriver, moment),
            ],
        )


class KeptReading(Struct, frozen=True):
    key: str
    contents: str
    source: bytes | None  # the bytes it was read from, when kept (or in the blob cache)
    intact: bool  # the row matches its own digest


class CacheRows:
    """Every cached row, for `triage db verify`: what can be checked by the rows alone here,
    what must be derived again (readings, license fields) handed to the service."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def readings(self) -> list[KeptReading]:
        blobs = {b: bytes(d) for b, d in self.database.rows("select blob, data from blob_cache")}
        kept = []
        for key, contents, source, digest in self.database.rows(
            "select blob, contents, source, digest from lockfile_cache order by blob"
        ):
            data = unpack(source) if source is not None else blobs.get(key.rpartition(":")[2])
            kept.append(KeptReading(key, contents, data, digest == row_digest(key, contents)))
        return kept

    def licenses(self) -> list[tuple[str, str, CachedLicense, bool]]:
        """(name, version, the row, intact)."""
        found = []
        for name, version, metadata, raw, inputs, deriver, fetched, digest in self.database.rows(
            "select name, version, metadata, raw, inputs, deriver, fetched, digest "
            "from license_cache order by name, version"
        ):
            answer = unpack(raw) if raw is not None else None
            intact = digest == row_digest(
                name, version, metadata, inputs, deriver, fetched
            ) and inputs == answer_digest(answer)
            found.append((name, version, CachedLicense(metadata, answer, deriver), intact))
        return found

    def self_check(self) -> list[tuple[str, str, str]]:
        """Rows whose only source is outside (PyPI, GitHub): each must match its own digest,
        or its content its id. (table, the row's key, what is wrong) for each that does not."""
        problems = []
        for filename, sha, provenance, fetched, digest in self.database.rows(
            "select filename, sha256, provenance, fetched, digest from provenance_cache"
        ):
            if digest != row_digest(filename, sha, provenance, fetched):
                problems.append(("provenance_cache", filename, "does not match its own digest"))
        for url, etag, files, fetched, digest in self.database.rows(
            "select url, etag, files, fetched, digest from index_pages"
        ):
            if digest != row_digest(url, etag, _unpacked_text(files), fetched):
                problems.append(("index_pages", url, "does not match its own digest"))
        for pin, content in self.database.rows("select sha256, content from import_cache"):
            if hashlib.sha256(bytes(content)).hexdigest() != pin:
                problems.append(("import_cache", pin, "does not hash to its pin"))
        for blob, data in self.database.rows("select blob, data from blob_cache"):
            data = bytes(data)
            if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blob:
                problems.append(("blob_cache", blob, "is not the git blob its id names"))
        for row in self.database.rows(
            "select repository, org, branch, etag, tree, read, goals, error, digest from org_repos"
        ):
            if row[-1] != row_digest(*row[:-1]):
                problems.append(("org_repos", row[0], "does not match its own digest"))
        return problems

    def drop(self, table: str, key: str) -> None:
        """A row that failed its check: made again from its source on its next use."""
        column = {
            "provenance_cache": "filename",
            "index_pages": "url",
            "import_cache": "sha256",
            "blob_cache": "blob",
            "org_repos": "repository",
            "lockfile_cache": "blob",
        }[table]
        self.database.write(f"delete from {table} where {column} = ?", [key])

    def drop_license(self, name: str, version: str) -> None:
        self.database.write(
            "delete from license_cache where name = ? and version = ?", [name, version]
        )
