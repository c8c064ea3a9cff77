"""`triage scan`, `triage diff` and `triage pr`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage.cli.common import Common, common_options, lockfile_options, path_argument
from triage.cli.entry import SCAN_FORMATS, run_scan
from triage.errors import EXIT_OK, EXIT_POLICY

if TYPE_CHECKING:
    from triage.core.diffing import DiffResult

FORMATS = ("text", "json", "markdown")


@click.command()
@lockfile_options
@common_options(SCAN_FORMATS)
def scan(path: Path | None, lockfiles: tuple[Path, ...], common: Common) -> int:
    """Findings of the working tree at PATH, policy applied."""
    return run_scan(common.at(path, lockfiles), common.output_format)


@click.command()
@path_argument
@click.option("--base", "base_ref", required=True, help="Base branch or commit.")
@click.option("--head", "head_ref", default="HEAD", show_default=True, help="Head ref.")
@common_options((*FORMATS, "sarif"))
def diff(path: Path | None, base_ref: str, head_ref: str, common: Common) -> int:
    """Findings new at HEAD against the merge-base; reads git objects, never checks out."""
    from triage.service import diff as use_case

    if common.output_format == "sarif":
        result, text = use_case.diff_sarif(common.at(path), base_ref, head_ref)
        return _report_diff(result, common, text)
    return _report_diff(use_case.diff(common.at(path), base_ref, head_ref), common)


def _report_diff(result: DiffResult, common: Common, text: str | None = None) -> int:
    from triage.core.report import DIFF_RENDERERS

    for warning in result.warnings:
        common.say(f"warning: {warning}")
    click.echo(text or DIFF_RENDERERS[common.output_format](result), nl=False)
    return EXIT_POLICY if result.fails else EXIT_OK


@click.command()
@path_argument
@click.option(
    "--repo",
    "repository",
    required=True,
    metavar="OWNER/NAME",
    help="The GitHub repository of the pull request.",
)
@click.option(
    "--pr", "number", required=True, type=click.IntRange(min=1), help="Pull request number."
)
@click.option("--base", "base_ref", required=True, help="Base branch or commit.")
@click.option("--head", "head_ref", default="HEAD", show_default=True, help="Head ref.")
@common_options(FORMATS)
def pr(
    path: Path | None, repository: str, number: int, base_ref: str, head_ref: str, common: Common
) -> int:
    """`diff`, then create or edit the one triage comment on the pull request."""
    from triage.service import diff as use_case

    result, posted = use_case.pr(common.at(path), repository, number, base_ref, head_ref)
    common.say(posted)
    return _report_diff(result, common)
