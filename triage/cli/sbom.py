"""`triage sbom`."""

from __future__ import annotations

from pathlib import Path

import click

from triage.cli.common import Common, common_options, lockfile_options
from triage.errors import EXIT_OK


@click.command()
@lockfile_options
@click.option(
    "--vex-only", is_flag=True, help="Only the vulnerabilities (and the components they name)."
)
@common_options(("cyclonedx", "cyclonedx-xml"))
def sbom(path: Path | None, lockfiles: tuple[Path, ...], vex_only: bool, common: Common) -> int:
    """CycloneDX 1.6 JSON: every locked package (purl, hashes, dependency graph) and every
    finding with its VEX analysis from the ledger and the triage state."""
    from triage.service import sbom as use_case

    xml = common.output_format == "cyclonedx-xml"
    text = use_case.cyclonedx(common.at(path, lockfiles), vex_only=vex_only, xml=xml)
    click.echo(text, nl=False)
    return EXIT_OK
