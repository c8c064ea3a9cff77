"""`triage witness verify`."""

from __future__ import annotations

from pathlib import Path

import click

from triage.cli.common import TEXT_ONLY, Common, common_options
from triage.errors import EXIT_OK, EXIT_POLICY


@click.group()
def witness() -> None:
    """Scan witnesses: recompute one and compare."""


@witness.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--repo",
    "repository",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The repository the witness was made in [default: the current one].",
)
@common_options(TEXT_ONLY)
def verify(file: Path, repository: Path | None, common: Common) -> int:
    """Recompute FILE from the same git objects (or working-tree files) and database; exit 1
    naming each mismatch."""
    from triage.service import witness as use_case

    problems = use_case.verify(common.at(repository), file)
    for problem in problems:
        click.echo(f"mismatch: {problem}")
    if problems:
        return EXIT_POLICY
    click.echo(f"{file}: verified; every input and the verdict are as recorded")
    return EXIT_OK
