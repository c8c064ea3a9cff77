"""The organisation audit's memory: per repository, the last tree (its ETag and entries),
what was read from it and a digest of what its issues say; and blobs read, by git id."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping

from msgspec import Struct, field

from triage.store.connection import Database
from triage.store.derived import row_digest


class RepoMemory(Struct, frozen=True):
    repository: str
    branch: str = ""
    etag: str | None = None
    entries: list[tuple[str, str, str]] | None = None  # (path, mode, blob id)
    read: dict[str, str] = field(default_factory=dict)  # path -> blob id of what was read
    goals: str = ""  # digest of the issues' wanted state at the last reconciliation
    error: str | None = None


class OrgStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def memories(self, org: str) -> dict[str, RepoMemory]:
        """What the last runs remember of each repository; a row that does not match its own
        digest (edited: a tree believed on a 304 would decide what is read) is forgotten, so
        that repository is read afresh."""
        rows = self.database.rows(
            "select repository, branch, etag, tree, read, goals, error, digest from org_repos "
            "where org = ?",
            [org],
        )
        found: dict[str, RepoMemory] = {}
        for repository, branch, etag, tree, read, goals, error, digest in rows:
            if digest != row_digest(repository, org, branch, etag, tree, read, goals, error):
                continue
            try:
                entries = [tuple(e) for e in json.loads(zlib.decompress(tree))] if tree else None
                blobs = json.loads(read or "{}")
            except (zlib.error, ValueError, TypeError):
                entries, blobs, etag = None, {}, None  # damaged: read the repository afresh
            if not isinstance(blobs, dict):
                entries, blobs, etag = None, {}, None
            found[repository] = RepoMemory(
                repository,
                branch=branch or "",
                etag=etag,
                entries=entries,
                read=blobs,
                goals=goals or "",
                error=error,
            )
        return found

    def remember(self, org: str, memory: RepoMemory, audited: str) -> None:
        tree = (
            zlib.compress(json.dumps(memory.entries).encode())
            if memory.entries is not None
            else None
        )
        read = json.dumps(memory.read, sort_keys=True)
        fields = (memory.repository, org, memory.branch, memory.etag, tree, read, memory.goals)
        self.database.write(
            "insert into org_repos (repository, org, branch, etag, tree, read, goals, audited, "
            "error, digest) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (repository) do "
            "update set org = excluded.org, branch = excluded.branch, etag = excluded.etag, "
            "tree = excluded.tree, read = excluded.read, goals = excluded.goals, "
            "audited = excluded.audited, error = excluded.error, digest = excluded.digest",
            [*fields, audited, memory.error, row_digest(*fields, memory.error)],
        )

    def blobs(self, ids: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(ids))
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for blob, data in self.database.rows(
                f"select blob, data from blob_cache where blob in ({marks})", part
            ):
                found[blob] = bytes(data)
        return found

    def keep_blobs(self, blobs: Mapping[str, bytes]) -> None:
        for blob, data in blobs.items():
            self.database.write(
                "insert or ignore into blob_cache (blob, data) values (?, ?)", [blob, data]
            )
