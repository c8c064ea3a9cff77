"""`triage db sync` and `triage db status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from msgspec import Struct, to_builtins

from triage.cli.common import Common, common_options
from triage.errors import EXIT_DATABASE, EXIT_OK, EXIT_UPSTREAM
from triage.models import Format, Schema

if TYPE_CHECKING:
    from triage.service.sync import SyncReport
    from triage.service.verify import VerifyReport


@click.group()
def db() -> None:
    """The advisory database: sync, status and verify."""


def _as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


class Synced(Struct, frozen=True):
    database: Path
    sources: list[str]
    report: SyncReport


def _sync_json(synced: Synced) -> str:
    where = {"schema": Schema.SYNC, "database": str(synced.database), "sources": synced.sources}
    return _as_json({**where, **to_builtins(synced.report)})


def _sync_text(synced: Synced) -> str:
    report, c, names = synced.report, synced.report.counts, synced.sources
    return (
        f"synced {len(names) - len(report.unreachable) - len(report.not_fetched)} of "
        f"{len(names)} source(s) into "
        f"{synced.database}: added {c.added}, modified {c.modified}, withdrawn {c.withdrawn}, "
        f"removed {c.removed}, unchanged {c.unchanged}, skipped {c.skipped}; "
        f"{report.records} records\n"
    )


SYNC = {Format.TEXT: _sync_text, Format.JSON: _sync_json}


@db.command("sync")
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="S",
    help="Directory, git checkout, OSV zip (path or URL) or osv:<Ecosystem>; "
    "repeatable [default: [advisories] sources of deny.toml].",
)
@common_options(SYNC)
def db_sync(sources: tuple[str, ...], common: Common) -> int:
    """Import advisories incrementally; prints added / modified / withdrawn counts."""
    from triage.service import sync

    ws = common.workspace
    names = list(sources) or list(ws.config.advisories.sources)
    with common.progress(ws) as shown:
        report = sync.sync(shown, names, require_all=bool(sources))
    for message in report.unreachable + report.warnings:
        common.say(f"warning: {message}")
    for source in report.not_fetched:
        common.say(f"warning: {source}: not fetched (offline); its stored records stand")
    if report.used_snapshot:
        common.say("warning: no source was reachable; loaded the embedded offline snapshot")
    if report.rederived:
        common.say(
            f"warning: the match index of {len(report.rederived)} package(s) did not match "
            f"their records ({', '.join(report.rederived[:5])}"
            f"{' and more' if len(report.rederived) > 5 else ''}); re-derived"
        )
    # A source that could not be read is an upstream failure whatever else was synced: the
    # data is not what deny.toml asks for (README: exit 4).
    code = EXIT_UPSTREAM if report.unreachable else EXIT_OK
    if report.unreachable:
        common.say(
            f"error: {len(report.unreachable)} of {len(names)} source(s) not synced (exit 4); "
            "the database holds what was read before"
            + (" and the embedded snapshot" if report.used_snapshot else "")
        )
    common.echo(SYNC, Synced(ws.db_path, names, report))
    return code


def _status_text(fields: dict[str, Any]) -> str:
    lines = []
    for key, value in list(fields.items())[1:]:  # the schema is JSON's
        shown = ", ".join(value) if isinstance(value, list) else value
        lines.append(f"{key.replace('_', ' ')}: {shown if shown not in (None, '') else '-'}")
    return "\n".join(lines) + "\n"


STATUS = {Format.TEXT: _status_text, Format.JSON: _as_json}


@db.command("status")
@common_options(STATUS)
def db_status(common: Common) -> int:
    """Record count, sources, last sync, data age and content digest."""
    from triage.service import sync

    info = sync.status(common.workspace)
    fields = {
        "schema": Schema.DB_STATUS,
        "database": str(common.workspace.db_path),
        "records": info.records,
        "sources": list(info.sources),
        "last_sync": info.last_sync,
        "newest_modified": info.newest_modified,
        "age_days": info.age_days,
        "digest": info.digest,
    }
    common.echo(STATUS, fields)
    return EXIT_OK


class Verified(Struct, frozen=True):
    database: Path
    report: VerifyReport


def _verify_json(verified: Verified) -> str:
    where = {"schema": Schema.DB_VERIFY, "database": str(verified.database)}
    return _as_json({**where, **to_builtins(verified.report)})


def _verify_text(verified: Verified) -> str:
    report = verified.report
    checked = ", ".join(f"{n} {table}" for table, n in report.checked.items())
    return "".join(f"differs: {problem}\n" for problem in report.differences) + (
        f"checked {checked} row(s); {len(report.differences)} difference(s)"
        + ("; repaired" if report.repaired else "")
        + f"; content digest {report.digest}\n"
    )


VERIFY = {Format.TEXT: _verify_text, Format.JSON: _verify_json}


@db.command("verify")
@click.option(
    "--repair",
    is_flag=True,
    help="Also make right what differs: recompile the index, drop the cached rows that "
    "differ (they are made again from their source on their next use).",
)
@common_options(VERIFY)
def db_verify(repair: bool, common: Common) -> int:
    """Derive every derived row again from what it was derived from (the match index from
    the advisory records, cached readings from their kept bytes, license fields from PyPI's
    kept answer) and name each difference; exit 3 when there is one."""
    from triage.service import verify

    report = verify.verify(common.workspace, repair=repair)
    for note in report.notes:
        common.say(f"note: {note}")
    common.echo(VERIFY, Verified(common.workspace.db_path, report))
    return EXIT_DATABASE if report.differences else EXIT_OK
