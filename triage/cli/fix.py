"""`triage fix`: the smallest upgrade that removes each finding, resolved by uv."""

from __future__ import annotations

from pathlib import Path

import click

from triage.cli.common import Common, common_options
from triage.errors import EXIT_OK, EXIT_POLICY


@click.command()
@click.argument("words", nargs=-1, metavar="[PATH] [KEY]...")
@click.option("--apply", "apply_plans", is_flag=True, help="Write the ready plans and re-scan.")
@click.option(
    "--pr",
    "open_prs",
    is_flag=True,
    help="Open or update a pull request per [fix] group on [github] repository instead.",
)
@click.option(
    "--strategy",
    type=click.Choice(["in-place", "relax"]),
    default="in-place",
    show_default=True,
    help="in-place: only the lock moves; relax: a requirement forbidding every fix is widened.",
)
@click.option(
    "--lockfile",
    "lockfiles",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Fix this lockfile instead of discovering them; repeatable.",
)
@common_options()
def fix(
    words: tuple[str, ...],
    apply_plans: bool,
    open_prs: bool,
    *,
    strategy: str,
    lockfiles: tuple[Path, ...],
    common: Common,
) -> int:
    """Plan (and with --apply, make) the smallest upgrade that removes each active finding
    without bringing another, checked by uv; KEY: a finding key or advisory id (default:
    every active finding). Exit 1 when a finding is left without a fix."""
    from triage.extras import Extra, require

    require(Extra.FIX, "triage fix")  # uv resolves every plan
    from triage.core.remedy import Strategy
    from triage.core.report import FIX_RENDERERS
    from triage.service import fix as use_case

    # PATH is the first word when it is a folder (a finding key never is one).
    path = Path(words[0]) if words and Path(words[0]).is_dir() else None
    keys = words[1:] if path is not None else words
    if apply_plans and open_prs:
        raise click.UsageError("--apply writes here, --pr proposes on GitHub: choose one")
    request = use_case.FixRequest(keys=keys, apply=apply_plans, strategy=Strategy(strategy))
    with common.progress(common.at(path, lockfiles)) as shown:
        if open_prs:
            from triage.service.fix_pr import fix_prs

            report = fix_prs(shown, request)
        else:
            report = use_case.fix(shown, request)
    common.echo(FIX_RENDERERS, report)
    return EXIT_OK if report.complete else EXIT_POLICY
