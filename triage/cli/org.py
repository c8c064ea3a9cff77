"""`triage org audit`: an organisation's repositories, audited without cloning."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from msgspec import to_builtins

from triage.cli.common import (
    Common,
    Renderers,
    common_options,
    echoed,
    engine_option,
    org_option,
)
from triage.extras import Extra, require
from triage.models import Format, Schema

if TYPE_CHECKING:
    from triage.service.org import OrgReport


@click.group()
def org() -> None:
    """An organisation's repositories, read through GitHub's API (no clones)."""


def _json(report: OrgReport) -> str:
    data = {"schema": Schema.ORG_AUDIT, **to_builtins(report), "exit_code": report.exit_code}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _text(report: OrgReport) -> None:
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
    click.echo(
        f"{report.org}: {report.listed} repositories listed, {report.audited} audited "
        f"({report.unchanged_trees} unchanged), skipped: {skipped}"
    )
    click.echo(f"findings: {report.findings}; failing: {len(report.failing)}")
    for name in report.failing:
        click.echo(f"  fails policy: {name}")
    for name, message in sorted(report.errors.items()):
        click.echo(f"  not audited: {name}: {message}")
    done = ", ".join(f"{what} {n}" for what, n in report.actions.items())
    click.echo(f"tracking issues ({report.reconciled} repositories reconciled): {done}")


ORG_AUDIT: Renderers[OrgReport] = {Format.TEXT: _text, Format.JSON: echoed(_json)}


@org.command("audit")
@org_option("The organisation.", required=True)
@engine_option("local: threads of this process; celery: the workers on TRIAGE_BROKER_URL.")
@click.option(
    "--full", is_flag=True, help="List and reconcile every repository's issues, changed or not."
)
@common_options(ORG_AUDIT)
def audit_org(org_name: str, engine: str, full: bool, *, common: Common) -> int:
    """Audit every repository of ORG: lockfiles, deny.toml and trust-store/ of each default
    branch, tracking issues as `triage audit` keeps them (per repository, or in [org] issues'
    central repository). Exit 1 when a repository fails its policy; a repository that could
    not be read makes it 2 (its files), 3 (the advisory data) or 4 (GitHub, the workers),
    the gravest of them."""
    from triage.service import org as use_case

    ws = common.at(None)
    runner = None
    if engine == "celery":
        require(Extra.ORG, "triage org audit --engine celery")
        from triage.jobs.org import celery_engine

        runner = celery_engine(ws.settings)
    with common.progress(ws) as shown:
        report = use_case.org_audit(shown, org_name, runner, full=full)
    common.show(ORG_AUDIT, report)
    common.say(f"GitHub requests: {report.requests} ({report.refused} refused for rate limits)")
    for warning in report.warnings:
        common.say(f"warning: {warning}")
    return report.exit_code
