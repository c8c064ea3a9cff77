"""`triage sbom`."""

from __future__ import annotations

from pathlib import Path

import click

from triage.cli.common import Common, common_options, lockfile_options
from triage.errors import EXIT_OK
from triage.extras import Extra, require
from triage.models import Format

SBOM_FORMATS = (Format.CYCLONEDX, Format.CYCLONEDX_XML)


@click.command()
@lockfile_options
@click.option(
    "--vex-only", is_flag=True, help="Only the vulnerabilities (and the components they name)."
)
@common_options(SBOM_FORMATS)
def sbom(path: Path | None, lockfiles: tuple[Path, ...], vex_only: bool, *, common: Common) -> int:
    """CycloneDX 1.6 JSON: every locked package (purl, hashes, dependency graph) and every
    finding with its VEX analysis from the ledger and the triage state."""
    require(Extra.SBOM, "triage sbom")
    from triage.service import sbom as use_case

    ws = common.at(path, lockfiles)
    sbom = use_case.cyclonedx(ws, vex_only=vex_only, serialised=common.output_format)
    click.echo(sbom, nl=False)
    return EXIT_OK
