"""`triage db verify`: every derived row derived again from what it was derived from, and
each difference named (issue 21). The match index is recompiled from the advisory records;
cached lockfile readings are read again from the bytes kept with them; license fields are
taken again from PyPI's kept answer; rows whose only source is outside (provenance, imported
audit files, git blobs, an organisation's memory) must match their own digest or id.

With `repair`, what differs is made right: the index recompiled, the other rows dropped (they
are made again from their source on their next use)."""

from __future__ import annotations

import json

from msgspec import Struct, field

from triage import lockfiles, store
from triage.errors import LockfileError
from triage.lockfiles.cache import reader_id
from triage.service.licenses import metadata_deriver, metadata_json
from triage.service.workspace import Workspace
from triage.store import match_index


class VerifyReport(Struct):
    digest: str = ""  # the database's content digest, as a witness or a worker would use it
    checked: dict[str, int] = field(default_factory=dict)  # rows checked, by table
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rows that cannot be derived again here
    repaired: bool = False


def _no_includes(lock: lockfiles.LockText, target: str, where: str) -> lockfiles.LockText:
    raise LockfileError(f"{where}: a cached reading never includes another file")


def _reading_problem(key: str, contents: str, source: bytes) -> str | None:
    """Why a cached reading of this build's readers is not what its bytes read as, if it
    is not."""
    from triage.core.witness import sha256

    _, kind, content_id = key.split(":", 2)  # triage-<build>:<format>:<content id>
    named = sha256(source) if content_id.startswith("sha256:") else _git_blob(source)
    if named != content_id:
        return "its kept bytes are not the file its key names"
    try:
        shown = str(json.loads(contents)["path"])
        lock = lockfiles.LockText(lockfiles.decode(source, shown), shown, shown)
        fmt = lockfiles.BY_ID[lockfiles.FormatId(kind)]
        again = lockfiles.contents_to_json(lockfiles.read_text(fmt, lock, _no_includes))
    except (LockfileError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return f"its bytes no longer read as a lockfile ({exc})"
    return None if again == contents else "differs from what its bytes read as"


def _git_blob(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verify(ws: Workspace, *, repair: bool = False) -> VerifyReport:
    report = VerifyReport()
    ws.require_database()
    with ws.database() as db:
        conn = db.conn
        report.differences += match_index.verify(conn)
        report.checked["match_index"] = int(db.rows("select count(*) from match_index")[0][0])
        rows = store.CacheRows(db)
        drop_readings: list[str] = []
        current = f"triage-{reader_id()}:"
        readings = rows.readings()
        report.checked["lockfile_cache"] = len(readings)
        foreign = 0
        for kept in readings:
            if not kept.key.startswith(current):
                foreign += 1  # another build's: never served by this one
                continue
            if not kept.intact:
                problem: str | None = "does not match its own digest"
            elif kept.source is None:
                report.notes.append(f"lockfile_cache {kept.key}: kept without its bytes")
                problem = None
            else:
                problem = _reading_problem(kept.key, kept.contents, kept.source)
            if problem is not None:
                report.differences.append(f"lockfile_cache {kept.key}: {problem}")
                drop_readings.append(kept.key)
        if foreign:
            report.notes.append(
                f"lockfile_cache: {foreign} reading(s) by another build of the readers, "
                "never served by this one"
            )
        drop_licenses: list[tuple[str, str]] = []
        licensed = rows.licenses()
        report.checked["license_cache"] = len(licensed)
        for name, version, kept_license, intact in licensed:
            if not intact:
                problem = "does not match its own digest or kept answer"
            elif (
                kept_license.deriver == metadata_deriver()
                and metadata_json(kept_license.raw) != kept_license.metadata
            ):
                problem = "differs from what PyPI's kept answer says"
            else:
                continue
            report.differences.append(f"license_cache {name} {version}: {problem}")
            drop_licenses.append((name, version))
        outside = rows.self_check()
        report.differences += [f"{table} {key}: {problem}" for table, key, problem in outside]
        notes = store.IndexNoteStore(db)
        noted = notes.recorded()
        report.checked["index_notes"] = len(noted.notes)
        if noted.broken:
            report.differences.append(
                "index_notes: the kept notes do not match their seal (dropped by --repair; the "
                "next audit asks the index again)"
            )
        if repair and report.differences:
            with db.transaction():
                match_index.rebuild(conn, None)
                for key in drop_readings:
                    rows.drop("lockfile_cache", key)
                for name, version in drop_licenses:
                    rows.drop_license(name, version)
                for table, key, _ in outside:
                    rows.drop(table, key)
                if noted.broken:
                    notes.forget()
            report.repaired = True
        report.digest = store.AdvisoryStore(db).content_digest()
    return report
