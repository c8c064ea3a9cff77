"""`triage scan`, `triage diff` and `triage pr`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage.cli.common import (
    Common,
    common_options,
    lockfile_options,
    path_argument,
    witness_option,
)
from triage.cli.entry import FINDINGS_FORMATS, SCAN_FORMATS, run_scan
from triage.errors import EXIT_OK, EXIT_POLICY
from triage.models import Format

if TYPE_CHECKING:
    from triage.core.diffing import DiffResult
    from triage.service.witness import WitnessTarget


@click.command()
@lockfile_options
@witness_option
@common_options(SCAN_FORMATS)
def scan(
    path: Path | None, lockfiles: tuple[Path, ...], witness: WitnessTarget | None, *, common: Common
) -> int:
    """Findings of the working tree at PATH, policy applied."""
    return run_scan(common.at(path, lockfiles), common.output_format, witness)


@click.command()
@path_argument
@click.option("--base", "base_ref", required=True, help="Base branch or commit.")
@click.option("--head", "head_ref", default="HEAD", show_default=True, help="Head ref.")
@witness_option
@common_options(SCAN_FORMATS)
def diff(
    path: Path | None,
    base_ref: str,
    head_ref: str,
    *,
    witness: WitnessTarget | None,
    common: Common,
) -> int:
    """Findings new at HEAD against the merge-base; reads git objects, never checks out."""
    from triage.service import diff as use_case

    ws = common.at(path)
    if common.output_format is not Format.SARIF and witness is None:
        with common.progress(ws) as shown:
            result = use_case.diff(shown, base_ref, head_ref)
        return _report_diff(result, common)
    from triage.service import witness as recorder

    if witness is not None:
        ws = recorder.pinned(ws)
    with common.progress(ws) as shown:
        result, base, head = use_case.diff_sides(shown, base_ref, head_ref)
    if witness is not None:
        recorder.write(ws, witness, recorder.diff_fields(ws, result, base, head=head))
    return _report_diff(result, common, sarif=lambda r: use_case.sarif_log(ws, r, head))


def _report_diff(
    result: DiffResult, common: Common, sarif: Callable[[DiffResult], str] | None = None
) -> int:
    """The diff in the format asked for; SARIF (which needs the head's files) by `sarif`."""
    from triage.core.report import DIFF_RENDERERS

    for warning in result.warnings:
        common.say(f"warning: {warning}")
    common.echo({**DIFF_RENDERERS, **({Format.SARIF: sarif} if sarif else {})}, result)
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
@common_options(FINDINGS_FORMATS)
def pr(
    path: Path | None, repository: str, number: int, *, base_ref: str, head_ref: str, common: Common
) -> int:
    """`diff`, then create or edit the one triage comment on the pull request."""
    from triage.service import diff as use_case

    with common.progress(common.at(path)) as shown:
        result, posted = use_case.pr(
            shown, repository, number, base_ref=base_ref, head_ref=head_ref
        )
    common.say(posted)
    return _report_diff(result, common)
