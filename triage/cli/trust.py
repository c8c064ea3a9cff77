"""`triage trust check`, `keygen` and `certify`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from triage.cli.common import (
    TEXT_ONLY,
    Common,
    F,
    common_options,
    lockfile_options,
    path_option,
)
from triage.errors import EXIT_OK, EXIT_POLICY
from triage.models import Format


@click.group()
def trust() -> None:
    """Verify locked artifacts' signatures under the [trust] mode."""


@trust.command("check")
@lockfile_options
@path_option(
    "--provenance-dir",
    "Folder of <artifact>.provenance / <artifact>.publish.attestation files "
    "[default: the index's project pages ($TRIAGE_PYPI_URL), cached in the database].",
)
@common_options()
def trust_check(
    path: Path | None, lockfiles: tuple[Path, ...], provenance_dir: Path | None, *, common: Common
) -> int:
    """Artifact -> verdict with the reason; exit 1 when the trust policy fails."""
    from triage.core.report import trust_json, trust_text
    from triage.service import trust as use_case

    ws = common.at(path, lockfiles)
    with common.progress(ws) as shown:
        report = use_case.trust_check(shown, provenance_dir)
    for warning in report.warnings:
        common.say(f"warning: {warning}")
    renderers = {Format.TEXT: trust_text, Format.JSON: trust_json}
    click.echo(renderers[common.output_format](report.results, ws.config.trust.mode), nl=False)
    return EXIT_POLICY if report.fails else EXIT_OK


def private_dir_option(verb: str) -> Callable[[F], F]:
    return click.option(
        "--private-dir",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Where the private key {verb} [default: ~/.config/triage/keys].",
    )


@trust.command("keygen")
@click.argument("name")
@private_dir_option("goes")
@common_options(TEXT_ONLY)
def trust_keygen(name: str, private_dir: Path | None, common: Common) -> int:
    """New ed25519 key NAME: private key 0600 outside the repository, public key in
    trust-store/keys/NAME.pub (id ed25519:NAME)."""
    from triage.service import trust as use_case

    private, public = use_case.trust_keygen(common.workspace, name, private_dir)
    click.echo(f"private key: {private}\npublic key:  {public} (id ed25519:{name})")
    return EXIT_OK


@trust.command("certify")
@click.argument("requirement", metavar="PKG==VER")
@click.option("--criteria", required=True, help="What was checked, e.g. safe-to-deploy.")
@click.option("--key", "key_name", required=True, help="Key name (see `trust keygen`).")
@click.option("--notes", default="", help="What the audit found.")
@click.option("--who", default=None, help="Auditor [default: $USER].")
@click.option("--from", "from_version", default=None, help="Delta audit from this version.")
@private_dir_option("is")
@common_options(TEXT_ONLY)
def trust_certify(
    requirement: str,
    criteria: str,
    key_name: str,
    *,
    notes: str,
    who: str | None,
    from_version: str | None,
    private_dir: Path | None,
    common: Common,
) -> int:
    """Append a signed audit record to trust-store/audits.toml (layout and comments kept)."""
    from triage.service import trust as use_case

    record = use_case.trust_certify(
        common.workspace,
        use_case.Certification(
            requirement,
            criteria,
            key_name,
            notes=notes,
            from_version=from_version,
            who=who,
            private_dir=private_dir,
        ),
    )
    click.echo(
        f"certified {record['package']} {record['version']} ({criteria}) with {record['key']}"
    )
    return EXIT_OK
