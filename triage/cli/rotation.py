"""The rotation's commands: queue, show, claim, ignore, unignore, policy check, stats."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage.cli.common import (
    TEXT_ONLY,
    TEXT_OR_JSON,
    Common,
    Renderers,
    as_option,
    common_options,
    echoed,
    lockfile_options,
    org_option,
    path_argument,
)
from triage.errors import EXIT_OK, EXIT_POLICY
from triage.models import Format, Justification, Schema

if TYPE_CHECKING:
    from triage.core.rotation import Stats
    from triage.core.rotation_report import FindingDetails
    from triage.models import TriageRecord
    from triage.service.rotation import ClaimResult

# Severity's labels, most severe first (spelt out: importing the models costs --help ~25 ms;
# tests/test_codes.py keeps the two equal).
SEVERITY_CHOICES = ("critical", "high", "medium", "low", "unknown")


def _severity_choice() -> click.Choice[str]:
    return click.Choice(SEVERITY_CHOICES)


@click.command()
@click.option("--mine", is_flag=True, help="Only findings assigned to me (see --as).")
@click.option("--overdue", is_flag=True, help="Only findings past their SLA due date.")
@click.option(
    "--severity", "severities", multiple=True, type=_severity_choice(), help="Repeatable."
)
@org_option("The backlog `triage org audit --org ORG` recorded, across its repositories.")
@as_option("Who 'me' is for --mine [default: $USER].")
@common_options()
def queue(
    mine: bool,
    overdue: bool,
    severities: tuple[str, ...],
    *,
    org_name: str | None,
    name: str | None,
    common: Common,
) -> int:
    """Findings to work (new or claimed): overdue first, then by SLA due date. With --org,
    one backlog across the organisation's repositories, with a repository column (`show`
    and `claim` then take OWNER/REPO:ADVISORY/package)."""
    from triage.cli import tables
    from triage.core.rotation_report import queue_json
    from triage.service import rotation

    ws = common.workspace
    now = ws.now()
    records = rotation.queue(
        ws,
        assignee=(name or common.settings.user) if mine else None,
        overdue_only=overdue,
        severities=severities,
        org=org_name,
    )
    index, unsealed = rotation.recorded_index(ws) if org_name is None else ((), ())
    for warning in unsealed:
        click.echo(f"warning: {warning}", err=True)
    renderers: Renderers[Sequence[TriageRecord]] = {
        Format.TEXT: lambda shown: tables.print_queue(tables.console(), shown, now, index=index),
        Format.JSON: echoed(lambda shown: queue_json(shown, now, index)),
    }
    common.show(renderers, records)
    return EXIT_OK


@click.command()
@click.argument("key")
@path_argument
@common_options()
def show(key: str, path: Path | None, common: Common) -> int:
    """Everything known about finding KEY (ADVISORY/package) in the project at PATH, or
    about an organisation audit's OWNER/REPO:ADVISORY/package."""
    from triage.cli import tables
    from triage.core.rotation_report import show_json
    from triage.service import rotation

    ws = common.at(path)
    now = ws.now()
    renderers: Renderers[FindingDetails] = {
        Format.TEXT: lambda shown: tables.print_show(tables.console(), shown, now),
        Format.JSON: echoed(lambda shown: show_json(shown, now)),
    }
    common.show(renderers, rotation.show(ws, key))
    return EXIT_OK


@click.command()
@click.argument("key")
@as_option("Assignee; a GitHub login also gets the tracking issue [default: $USER].")
@common_options(TEXT_OR_JSON)
def claim(key: str, name: str | None, common: Common) -> int:
    """Take finding KEY: assign it (and its GitHub tracking issue when NAME is a login)."""
    from triage.service import rotation

    common.echo(CLAIM, rotation.claim(common.workspace, key, name or None))
    return EXIT_OK


def _claim_json(result: ClaimResult) -> str:
    import json

    document = {
        "schema": Schema.CLAIM,
        "key": str(result.record.key),
        "state": result.record.state.value,
        "assignee": result.record.assignee,
        "github": result.github,
    }
    return json.dumps(document, indent=2) + "\n"


def _claim_text(result: ClaimResult) -> str:
    record = result.record
    return f"{record.key}: {record.state.value}, assigned to {record.assignee} ({result.github})\n"


CLAIM = {Format.TEXT: _claim_text, Format.JSON: _claim_json}


@click.command()
@click.argument("key")
@path_argument
@click.option("--reason", required=True, help="Why the finding is acceptable.")
@click.option("--issue", default=None, metavar="URL", help="The tracking issue.")
@click.option(
    "--open-issue", is_flag=True, help="Open (or reuse) the GitHub tracking issue for it."
)
@click.option(
    "--expires", default=None, metavar="YYYY-MM-DD", help="End of the ignore [default: 90 days]."
)
@click.option("--package", "package_only", is_flag=True, help="Only this key's package.")
@click.option("--force", is_flag=True, help="Accept an expiry more than a year away.")
@click.option(
    "--justification",
    type=click.Choice([j.value for j in Justification]),
    default=None,
    help="Why the project is not affected, in CycloneDX's terms: the SBOM then says "
    "not_affected. Without it the ignore is accepted risk (exploitable, will_not_fix).",
)
@click.option(
    "--malware",
    is_flag=True,
    help="Accept a finding that is malware: refused without it (and `policy check` flags it).",
)
@as_option("Who is recorded in the history [default: $USER].")
@common_options(TEXT_ONLY)
def ignore(
    key: str,
    path: Path | None,
    reason: str,
    *,
    issue: str | None,
    open_issue: bool,
    expires: str | None,
    package_only: bool,
    force: bool,
    justification: str | None,
    malware: bool,
    name: str | None,
    common: Common,
) -> int:
    """Accept finding KEY: add an entry to deny.toml's ignore list, in place."""
    from triage.service import ledger

    request = ledger.IgnoreRequest(
        key=key,
        reason=reason,
        issue=issue,
        open_issue=open_issue,
        expires=expires,
        package_only=package_only,
        force=force,
        who=name or None,
        justification=Justification(justification) if justification else None,
        malware=malware,
    )
    result = ledger.ignore(common.at(path), request)
    entry = result.entry
    scope = f" for {entry['package']}" if "package" in entry else ""
    click.echo(
        f"{common.workspace.config_path}: advisories.ignore[{result.index}] ignores "
        f"{entry['id']}{scope} until {entry['expires'].isoformat()} ({entry['issue']})"
    )
    common.say(_history_note(result.recorded))
    return EXIT_OK


def _history_note(keys: Sequence[str]) -> str:
    if not keys:
        return "no recorded finding is covered yet; the next audit records it"
    return f"recorded in the history of {', '.join(keys)}"


@click.command()
@click.argument("ident", metavar="ID")
@as_option("Who is recorded in the history [default: $USER].")
@common_options(TEXT_ONLY)
def unignore(ident: str, name: str | None, common: Common) -> int:
    """Remove the ignore of advisory ID (or ID/package) from deny.toml, in place."""
    from triage.service import ledger

    rule, keys = ledger.unignore(common.workspace, ident, name or None)
    scope = f" for {rule.package}" if rule.package else ""
    click.echo(
        f"{common.workspace.config_path}: removed advisories.ignore[{rule.index}] "
        f"({rule.id}{scope})"
    )
    common.say(_history_note(keys))
    return EXIT_OK


@click.group()
def policy() -> None:
    """The ignore ledger's lints."""


@policy.command("check")
@lockfile_options
@common_options()
def policy_check(path: Path | None, lockfiles: tuple[Path, ...], common: Common) -> int:
    """Lint deny.toml's ignores: missing reason or issue, expired, expiring within 7 days,
    unused, unknown advisory ids, tracking issues closed while the ignore stands."""
    from triage.core.rotation_report import policy_json, policy_text
    from triage.service import ledger

    result = ledger.policy_check(common.at(path, lockfiles))
    renderers = {Format.TEXT: policy_text, Format.JSON: policy_json}
    click.echo(renderers[common.output_format](result.diagnostics, result.notes), nl=False)
    return EXIT_POLICY if result.fails else EXIT_OK


@click.command()
@click.option(
    "--window",
    default="P90D",
    show_default=True,
    help="ISO 8601 duration the time-to-triage and time-to-fix medians look back over.",
)
@org_option("The statistics of `triage org audit --org ORG`, by repository too.")
@common_options((Format.TEXT, Format.JSON, Format.HTML))
def stats(window: str, org_name: str | None, common: Common) -> int:
    """Open findings by severity, state and age; overdue; median time to triage and to fix.
    `--format html` writes a page with a chart of open findings per audit run."""
    from triage.cli import tables
    from triage.core.rotation_report import stats_html, stats_json
    from triage.service import rotation

    renderers: Renderers[Stats] = {
        Format.TEXT: lambda shown: tables.print_stats(tables.console(), shown),
        Format.JSON: echoed(stats_json),
        Format.HTML: echoed(stats_html),
    }
    common.show(renderers, rotation.stats(common.workspace, window, org_name))
    return EXIT_OK
