"""Numbered schema migrations. A database records how many it has had (`schema_version` in
`meta`); opening it applies the rest, each in its own transaction. Never edit a released
migration: add the next one."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def _advisories(db: sqlite_utils.Database) -> None:
    """1: the advisory records, their affected packages, where each came from."""
    db.table("advisories").create(
        {
            "id": str,
            "modified": str,
            "published": str,
            "withdrawn": str,
            "aliases": str,
            "severity": str,
            "severity_vector": str,
            "refs": str,
            "source": str,
            "digest": str,
            "group_id": str,
            "group_ids": str,
        },
        pk="id",
    )
    db.table("affected").create(
        {"advisory_id": str, "package": str, "ranges": str, "versions": str},
        foreign_keys=[("advisory_id", "advisories", "id")],
    )
    db.table("affected").create_index(["package"])
    db.table("affected").create_index(["advisory_id"])
    db.table("source_files").create(
        {"source": str, "name": str, "fingerprint": str, "advisory_id": str},
        pk=("source", "name"),
    )
    db.table("sources").create(
        {"source": str, "kind": str, "revision": str, "last_sync": str, "records": int},
        pk="source",
    )
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _add_columns(db: sqlite_utils.Database, table: str, columns: Mapping[str, type]) -> set[str]:
    """Adds the columns a table lacks; returns the names it added."""
    existing = db.table(table).columns_dict
    added = {name for name in columns if name not in existing}
    for name in added:
        db.table(table).add_column(name, columns[name])
    return added


def _audit_and_triage(db: sqlite_utils.Database) -> None:
    """2: caches, audit runs, findings with their triage state and history, the local tracker.

    Releases before numbered migrations created these tables (and later their new columns)
    at every open while still calling themselves schema 1, so each step here tolerates what
    such a database may already have."""
    db.table("lockfile_cache").create({"blob": str, "contents": str}, pk="blob", if_not_exists=True)
    db.table("import_cache").create(
        {"sha256": str, "content": bytes}, pk="sha256", if_not_exists=True
    )
    db.table("provenance_cache").create(
        {"filename": str, "sha256": str, "provenance": str, "fetched": str},
        pk=("filename", "sha256"),
        if_not_exists=True,
    )
    db.table("audit_runs").create(
        {
            "id": int,
            "started": str,
            "finished": str,
            "scheduled_for": str,
            "digest": str,
            "counts": str,
            "outcome": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("findings").create(
        {
            "key": str,
            "advisory": str,
            "package": str,
            "versions": str,
            "severity": str,
            "status": str,
            "first_seen": str,
            "last_seen": str,
            "gone_since": str,
            "issue_url": str,
        },
        pk="key",
        if_not_exists=True,
    )
    if "state" in _add_columns(db, "findings", {"state": str, "assignee": str, "due": str}):
        db.execute(
            "update findings set due = first_seen, state = case "
            "when gone_since is not null then 'fixed' when status = 'ignored' then 'ignored' "
            "else 'new' end"
        )
    _add_columns(db, "audit_runs", {"open_findings": int})
    db.table("finding_history").create(
        {"id": int, "key": str, "at": str, "who": str, "event": str, "detail": str, "state": str},
        pk="id",
        if_not_exists=True,
    )
    for operation in ("update", "delete"):
        # The history is append-only: the database itself refuses to rewrite it.
        db.execute(
            f"create trigger if not exists finding_history_no_{operation} "
            f"before {operation} on finding_history "
            "begin select raise(abort, 'finding_history is append-only'); end"
        )
    db.table("local_issues").create(
        {
            "number": int,
            "key": str,
            "title": str,
            "body": str,
            "state": str,
            "labels": str,
            "created": str,
            "updated": str,
        },
        pk="number",
        if_not_exists=True,
    )
    db.table("local_comments").create(
        {"id": int, "number": int, "body": str, "created": str}, pk="id", if_not_exists=True
    )


def _match_index(db: sqlite_utils.Database) -> None:
    """3: the match index compiled at sync (each package's ranges as slot intervals), and each
    source's own fingerprint so a sync skips an unchanged source before reading its files.
    (Compiled by migration 8, which binds its rows to their records.)"""
    db.table("match_index").create(
        {"package": str, "compiled": str}, pk="package", if_not_exists=True
    )
    _add_columns(db, "sources", {"fingerprint": str})


def _summaries(db: sqlite_utils.Database) -> None:
    """4: each record's one-line summary (SARIF rules, SBOM vulnerabilities). Records are
    read again at the next sync to fill it: every file counts as changed once."""
    _add_columns(db, "advisories", {"summary": str})
    db.execute("update source_files set fingerprint = ''")
    db.execute("update sources set fingerprint = null")


def _license_cache(db: sqlite_utils.Database) -> None:
    """5: license metadata per (name, version) as PyPI gave it, so later checks run offline."""
    db.table("license_cache").create(
        {"name": str, "version": str, "metadata": str, "fetched": str},
        pk=("name", "version"),
        if_not_exists=True,
    )


def _organisations(db: sqlite_utils.Database) -> None:
    """6: the organisation audit's memory per repository (the tree's ETag and entries, what
    was read, a digest of what its issues should say) and the blobs it read, by git id."""
    db.table("org_repos").create(
        {
            "repository": str,
            "org": str,
            "branch": str,
            "etag": str,
            "tree": bytes,
            "read": str,
            "goals": str,
            "audited": str,
            "error": str,
        },
        pk="repository",
        if_not_exists=True,
    )
    db.table("blob_cache").create({"blob": str, "data": bytes}, pk="blob", if_not_exists=True)


def _org_runs(db: sqlite_utils.Database) -> None:
    """7: organisation audit runs are recorded beside this repository's, with their org."""
    _add_columns(db, "audit_runs", {"org": str})
    db.table("audit_runs").create_index(["org", "started"], if_not_exists=True)


def _bound_derived_state(db: sqlite_utils.Database) -> None:
    """8: derived rows carry the digest of their inputs, their deriver's version and their
    own digest (store/derived.py). The match index is recompiled with them; lockfile readings
    keep the file they were read from; license rows keep PyPI's answer. Readings and license
    rows from before carry nothing to re-derive them from and are dropped: readings are made
    again from the files, licenses asked for again (offline, not judged until then).
    Provenance rows are PyPI's answers themselves (and verified by Sigstore at every use):
    they are sealed as they stand."""
    from triage.store import match_index
    from triage.store.derived import row_digest

    _add_columns(db, "match_index", {"inputs": str, "deriver": str, "digest": str})
    match_index.rebuild(db.conn, None)
    _add_columns(db, "lockfile_cache", {"source": bytes, "digest": str})
    db.execute("delete from lockfile_cache")
    _add_columns(db, "license_cache", {"raw": bytes, "inputs": str, "deriver": str, "digest": str})
    db.execute("delete from license_cache")
    _add_columns(db, "provenance_cache", {"digest": str})
    sealed = [
        (row_digest(name, sha, text, fetched), name, sha)
        for name, sha, text, fetched in db.execute(
            "select filename, sha256, provenance, fetched from provenance_cache"
        ).fetchall()
    ]
    db.conn.executemany(
        "update provenance_cache set digest = ? where filename = ? and sha256 = ?", sealed
    )
    _add_columns(db, "org_repos", {"digest": str})
    db.execute("update org_repos set etag = null")  # re-read each tree once, then sealed


def _index_pages(db: sqlite_utils.Database) -> None:
    """9: the package index's project pages (PEP 691 JSON), as far as provenance goes, by URL
    with their ETag: a project is asked for once per run, conditionally, not once per file.
    Like provenance rows they are the index's own answers, sealed with their own digest."""
    db.table("index_pages").create(
        {"url": str, "etag": str, "files": bytes, "fetched": str, "digest": str},
        pk="url",
        if_not_exists=True,
    )


def _malware(db: sqlite_utils.Database) -> None:
    """10: a recorded finding that is malware (it leads the queue)."""
    _add_columns(db, "findings", {"malicious": int})


def _fix_plans(db: sqlite_utils.Database) -> None:
    """11: the last fix plan of each finding key (`triage fix`), and its pull request."""
    db.table("fix_plans").create(
        {"key": str, "plan": str, "state": str, "pull_url": str, "at": str},
        pk="key",
        if_not_exists=True,
    )


def _malware_records(db: sqlite_utils.Database) -> None:
    """12: a record that is malware by its data (OpenSSF's origins), not only by a MAL- id.
    Every record file is read again at the next sync (their fingerprints are forgotten), so
    the records stored before this column get it."""
    _add_columns(db, "advisories", {"malicious": int})
    db.execute("update source_files set fingerprint = ''")
    db.execute("update sources set fingerprint = null")


def _index_notes(db: sqlite_utils.Database) -> None:
    """13: what the last audit found the index saying of the locked releases (yanked files,
    project status), for the commands that never ask it."""
    db.table("index_notes").create(
        {
            "package": str,
            "version": str,
            "kind": str,
            "detail": str,
            "reason": str,
            "level": str,
        },
        if_not_exists=True,
    )


def _sealed_index_notes(db: sqlite_utils.Database) -> None:
    """14: the kept index notes are sealed (store/index_notes.py); those kept before are
    sealed as they are now."""
    from triage.store import index_notes

    rows = db.execute(index_notes.ROWS).fetchall()
    found = db.execute("select value from meta where key = ?", [index_notes.CHECKED]).fetchall()
    checked = str(found[0][0]) if found and found[0][0] is not None else None
    if rows or checked is not None:
        db.table("meta").upsert(
            {"key": index_notes.SEAL, "value": index_notes.seal(rows, checked)}, pk="key"
        )


MIGRATIONS: tuple[Migration, ...] = (
    _advisories,
    _audit_and_triage,
    _match_index,
    _summaries,
    _license_cache,
    _organisations,
    _org_runs,
    _bound_derived_state,
    _index_pages,
    _malware,
    _fix_plans,
    _malware_records,
    _index_notes,
    _sealed_index_notes,
)
SCHEMA_VERSION = len(MIGRATIONS)
