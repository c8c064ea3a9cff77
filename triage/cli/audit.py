"""`triage audit`, `triage schedule` and `triage issues`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage.cli.common import (
    TEXT_ONLY,
    Common,
    common_options,
    engine_option,
    org_option,
    path_argument,
    witness_option,
)
from triage.cli.entry import FINDINGS_FORMATS
from triage.errors import EXIT_OK, EXIT_POLICY, ConfigError, TriageError
from triage.extras import Extra, require
from triage.models import Format, Schema

if TYPE_CHECKING:
    from triage.service.witness import WitnessTarget


@click.command()
@path_argument
@click.option("--ref", default=None, help="Audit this git ref instead of the working tree.")
@click.option(
    "--repo",
    "repository",
    default=None,
    metavar="OWNER/NAME",
    help="GitHub repository for tracking issues [default: [github] repository].",
)
@witness_option
@common_options(FINDINGS_FORMATS)
def audit(
    path: Path | None,
    ref: str | None,
    repository: str | None,
    *,
    witness: WitnessTarget | None,
    common: Common,
) -> int:
    """Daily job: sync, scan the default branch, reconcile tracking issues, record the run.

    Tracking issues go to GitHub when GITHUB_TOKEN is set and a repository is known, else to
    the local tracker in the database (`triage issues`)."""
    from triage.core.report import RENDERERS, note_text
    from triage.service import audit as use_case

    ws = common.at(path)
    trackers = use_case.tracker_factory(ws, repository)
    with common.progress(ws) as shown:
        report = use_case.audit(shown, trackers, ref=ref)
    if report.skipped:
        common.say(f"audit skipped: {report.skipped}")
        return EXIT_OK
    assert report.scan is not None and report.sync is not None
    offline = [
        f"{s}: not fetched (offline); its stored records stand" for s in report.sync.not_fetched
    ]
    every = report.sync.unreachable + offline + report.sync.warnings + report.warnings
    for message in [*every, *report.scan.warnings]:
        common.say(f"warning: {message}")
    common.echo(RENDERERS, report.scan)
    if witness is not None:
        from triage.service import witness as recorder

        pinned = recorder.pinned(ws)
        recorder.write(pinned, witness, recorder.audit_fields(pinned, ref))
    done = ", ".join(f"{what} {n}" for what, n in report.actions.items())
    verdicts = [item.verdict.value for item in report.trust]
    trusted = ", ".join(f"{verdicts.count(v)} {v}" for v in ("trusted", "untrusted", "unsigned"))
    common.say(f"trust ({ws.config.trust.mode}): {trusted}")
    for note in report.index_notes:
        common.say(f"{note.level.value}[{note.kind}]: {note_text(note)}")
    for pull in report.fix_pulls:
        where = f" #{pull.number} {pull.url}" if pull.number is not None else f": {pull.reason}"
        common.say(f"fix pull request for {pull.group}: {pull.action}{where}")
    common.say(f"audit run {report.run}: tracking issues {done}")
    return EXIT_POLICY if report.fails else EXIT_OK


@click.command()
@path_argument
@org_option(
    "Run `triage org audit --org ORG` on [schedule] org-audit instead of this "
    "repository's audit on [schedule] audit."
)
@engine_option("With --org: threads of this process, or the Celery workers on TRIAGE_BROKER_URL.")
@common_options(TEXT_ONLY)
def schedule(path: Path | None, org_name: str | None, engine: str, *, common: Common) -> int:
    """Run the audit on [schedule] audit (cron, UTC) until SIGTERM or SIGINT; with --org, the
    organisation audit on [schedule] org-audit."""
    require(Extra.SCHEDULE, "triage schedule")
    if engine == "celery":
        require(Extra.ORG, "triage schedule --engine celery")
    from triage.jobs.audit import AuditJob, OrgAuditJob
    from triage.jobs.scheduler import AuditScheduler, cron_trigger, run_until_signalled

    ws = common.at(path)
    job: AuditJob | OrgAuditJob = AuditJob(ws)
    key, expression = "schedule.audit", ws.config.schedule_audit
    if org_name is not None:
        from triage.service.rotation import check_org_name

        check_org_name(org_name)
        org_expression = ws.config.schedule_org_audit
        if org_expression is None:
            raise ConfigError(
                str(ws.config_path),
                ["schedule.org-audit: not set; `triage schedule --org` runs on it"],
                hint='add org-audit = "0 6 * * *" (cron, UTC) under [schedule]',
            )
        key, expression = "schedule.org-audit", org_expression
        job = OrgAuditJob(ws, org_name, engine)
    try:
        trigger = cron_trigger(expression)
    except ValueError as exc:
        raise TriageError(
            f"{ws.config_path}: {key}: {exc}",
            hint='write a five-field cron expression such as "0 9 * * *"',
        ) from exc
    logging.basicConfig(
        level=logging.INFO if common.verbosity >= 0 else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    run_until_signalled(AuditScheduler(job, trigger, job.last_success))
    return EXIT_OK


Rows = list[dict[str, Any]]


def _issues_text(rows: Rows) -> str:
    lines = [f"#{row['number']:<4} {row['state']:<6} {row['title']}" for row in rows]
    return "\n".join(lines or ["no tracking issues"]) + "\n"


def _issues_json(rows: Rows) -> str:
    return json.dumps({"schema": Schema.ISSUES, "issues": rows}, indent=2) + "\n"


ISSUES = {Format.TEXT: _issues_text, Format.JSON: _issues_json}


@click.command("issues")
@click.option("--all", "show_all", is_flag=True, help="Closed issues too.")
@common_options(ISSUES)
def issues_command(show_all: bool, common: Common) -> int:
    """The local tracker's issues (used when no GitHub token is set)."""
    from triage.service import audit as use_case

    common.echo(ISSUES, use_case.local_issues(common.workspace, include_closed=show_all))
    return EXIT_OK
