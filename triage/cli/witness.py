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
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept a witness no trust-store key signed (its content is still recomputed).",
)
@common_options(TEXT_ONLY)
def verify(file: Path, repository: Path | None, allow_unsigned: bool, *, common: Common) -> int:
    """Check FILE's signature against the trust store's keys, then recompute it from the same
    git objects (or working-tree files) and database, judged by this repository's policy
    (--config) as of the witness's day; exit 1 naming each mismatch."""
    from triage.service import witness as use_case

    checked = use_case.verify(common.at(repository), file, allow_unsigned=allow_unsigned)
    signer = f"signed by {checked.signer}" if checked.signer else "unsigned"
    click.echo(
        f"{file}: {signer}; judged as of {checked.judged_as_of.isoformat()} (the witness's "
        f"day), verified at {checked.verified_at.isoformat(timespec='seconds')}"
    )
    for problem in checked.problems:
        click.echo(f"mismatch: {problem}")
    if checked.problems:
        return EXIT_POLICY
    click.echo(f"{file}: verified; every input and the verdict are as recorded")
    return EXIT_OK
