"""The match index (core/index.py's compiled form of each package's records), kept bound to
the records it was compiled from: each row carries the digest of its inputs (the package's
affected entries and whether their records are withdrawn), the deriver's version and a digest
of itself. A scan checks the rows it reads against the records as they are now and recompiles
any that disagree; `triage db sync` checks every row; `triage db verify` recompiles them all
and names each that differs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from msgspec import Struct

from triage.core.index import compile_package
from triage.models import Advisory, Affected, Severity
from triage.store.columns import ranges_from_json, strings_from_json
from triage.store.derived import deriver, row_digest

# (package, advisory id, ranges JSON, versions JSON, withdrawn: 1 or 0)
InputRow = tuple[str, str, str, str, int]


def index_deriver() -> str:
    return deriver("core/index.py", "core/matching.py", "store/match_index.py", "store/columns.py")


def _input_rows(conn: sqlite3.Connection, packages: Iterable[str] | None) -> list[InputRow]:
    query = (
        "select f.package, f.advisory_id, f.ranges, f.versions, "
        "coalesce(a.withdrawn, '') != '' from affected f join advisories a "
        "on a.id = f.advisory_id"
    )
    parameters: list[str] = []
    if packages is not None:
        query += " where f.package in (select value from json_each(?))"
        parameters.append(json.dumps(sorted(set(packages))))
    query += " order by f.package, f.advisory_id, f.ranges, f.versions"
    rows: list[InputRow] = conn.execute(query, parameters).fetchall()
    return rows


class Inputs(Struct, frozen=True):
    """What one package's row is derived from, now."""

    digest: str
    live: bool  # some record is not withdrawn: the package must have a row


def inputs_of(rows: Sequence[InputRow]) -> dict[str, Inputs]:
    digests: dict[str, hashlib._Hash] = {}
    live: dict[str, bool] = {}
    for package, advisory_id, ranges, versions, withdrawn in rows:
        digest = digests.setdefault(package, hashlib.sha256())
        digest.update(f"{advisory_id}\0{ranges}\0{versions}\0{int(withdrawn)}\n".encode())
        live[package] = live.get(package, False) or not withdrawn
    return {p: Inputs("sha256:" + d.hexdigest(), live[p]) for p, d in digests.items()}


def derive(rows: Sequence[InputRow]) -> dict[str, str]:
    """Each package's compiled form from its input rows (packages with no live record have
    none)."""
    by_package: dict[str, list[tuple[Advisory, Affected]]] = {}
    for package, advisory_id, ranges, versions, withdrawn in rows:
        entry = Affected(package, ranges_from_json(ranges), strings_from_json(versions))
        record = Advisory(
            id=advisory_id,
            modified="",
            published=None,
            withdrawn="withdrawn" if withdrawn else None,
            aliases=(),
            affected=(entry,),
            severity=Severity.UNKNOWN,
            severity_vector=None,
            references=(),
        )
        by_package.setdefault(package, []).append((record, entry))
    compiled = {}
    for package, records in by_package.items():
        form = compile_package(records)
        if form is not None:
            compiled[package] = form
    return compiled


def _row(package: str, form: str, inputs: Inputs) -> tuple[str, str, str, str, str]:
    made_by = index_deriver()
    return package, form, inputs.digest, made_by, row_digest(package, inputs.digest, made_by, form)


def rebuild(conn: sqlite3.Connection, packages: Iterable[str] | None) -> None:
    """Recompiles the rows of `packages` (None: every package) from the stored records, in
    the caller's transaction."""
    wanted = None if packages is None else sorted(set(packages))
    if wanted is None:
        conn.execute("delete from match_index")
    else:
        conn.execute(
            "delete from match_index where package in (select value from json_each(?))",
            [json.dumps(wanted)],
        )
    rows = _input_rows(conn, wanted)
    now = inputs_of(rows)
    conn.executemany(
        "insert into match_index (package, compiled, inputs, deriver, digest) "
        "values (?, ?, ?, ?, ?)",
        [_row(package, form, now[package]) for package, form in derive(rows).items()],
    )


StoredRow = tuple[str, str | None, str | None, str | None]  # compiled, inputs, deriver, digest


def _stored(conn: sqlite3.Connection, packages: Sequence[str] | None) -> dict[str, StoredRow]:
    query = "select package, compiled, inputs, deriver, digest from match_index"
    parameters: list[str] = []
    if packages is not None:
        query += " where package in (select value from json_each(?))"
        parameters.append(json.dumps(list(packages)))
    return {p: (c, i, d, g) for p, c, i, d, g in conn.execute(query, parameters)}


OTHER_BUILD = "another build"  # only the deriver differs: an upgrade, re-derived quietly


def _judged(
    names: Iterable[str], stored: Mapping[str, StoredRow], now: Mapping[str, Inputs]
) -> dict[str, str]:
    """Why each name's row must be derived again ("" when it need not)."""
    made_by = index_deriver()
    wrong: dict[str, str] = {}
    for name in names:
        row, inputs = stored.get(name), now.get(name)
        expected = inputs is not None and inputs.live
        wrong[name] = ""
        if row is None:
            wrong[name] = "missing" if expected else ""
            continue
        compiled, digest_in, digest_by, digest = row
        if (
            not expected
            or inputs is None
            or compiled is None
            or digest_in != inputs.digest
            or digest != row_digest(name, digest_in, digest_by, compiled)
        ):
            wrong[name] = "disagrees"
        elif digest_by != made_by:
            wrong[name] = OTHER_BUILD
    return wrong


class Lookup(Struct, frozen=True):
    compiled: dict[str, str]  # the rows to match with, each checked or re-derived
    rederived: tuple[str, ...]  # names whose stored row disagreed with their records (not
    # counting rows another build of triage derived: those are made again without a word)
    names: frozenset[str]  # the names looked up
    rows: list[InputRow]  # their affected entries, which the rows were checked against


def lookup(conn: sqlite3.Connection, names: Iterable[str]) -> Lookup:
    """The compiled form of each of `names` that has live records, every row checked against
    the records now; a row that disagrees (edited, stale, missing, another deriver's) is
    recompiled from them, for this use and in the database when it can be written."""
    wanted = sorted(set(names))
    stored = _stored(conn, wanted)
    rows = _input_rows(conn, wanted)
    now = inputs_of(rows)
    judged = _judged(wanted, stored, now)
    wrong = {name for name, why in judged.items() if why}
    compiled = {n: row[0] for n, row in stored.items() if n not in wrong and row[0] is not None}
    if wrong:
        fresh = derive([r for r in rows if r[0] in wrong])
        compiled.update(fresh)
        try:
            with conn:
                rebuild(conn, wrong)
        except sqlite3.OperationalError:
            pass  # a worker's read-only copy: matched with the fresh form all the same
    said = sorted(name for name, why in judged.items() if why and why != OTHER_BUILD)
    return Lookup(compiled, tuple(said), frozenset(wanted), rows)


def repair(conn: sqlite3.Connection) -> tuple[str, ...]:
    """Every row checked against the records (not recompiled: see `verify`); the rows that
    disagree are recompiled, in the caller's transaction. The names repaired."""
    stored = _stored(conn, None)
    now = inputs_of(_input_rows(conn, None))
    judged = _judged(stored.keys() | now.keys(), stored, now)
    wrong = {name for name, why in judged.items() if why}
    if wrong:
        rebuild(conn, wrong)
    return tuple(sorted(name for name in wrong if judged[name] != OTHER_BUILD))


def verify(conn: sqlite3.Connection) -> list[str]:
    """Every row recompiled from the records and compared, whatever its digests say: each
    difference named."""
    stored = _stored(conn, None)
    rows = _input_rows(conn, None)
    now = inputs_of(rows)
    fresh = derive(rows)
    problems = []
    for name in sorted(stored.keys() | fresh.keys()):
        row = stored.get(name)
        if row is None:
            problems.append(f"match_index {name}: missing; its records affect versions")
        elif name not in fresh:
            problems.append(f"match_index {name}: a row for a package no live record affects")
        elif row[0] != fresh[name]:
            problems.append(f"match_index {name}: differs from what its records compile to")
        elif _judged([name], stored, now)[name] not in ("", OTHER_BUILD):
            problems.append(f"match_index {name}: its digests do not match its records")
    return problems
