"""The click application: every command, one module per command group; heavy modules are
imported inside the commands so that `triage --help` starts fast."""

from __future__ import annotations

from collections.abc import Sequence

import click

from triage import __version__
from triage.cli import audit, db, licenses, org, rotation, sbom, scan, trust, witness
from triage.cli.entry import report_error
from triage.errors import EXIT_INPUT, EXIT_OK, TriageError
from triage.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="triage")
def cli() -> None:
    """triage: find known advisories in locked Python dependencies and keep them triaged."""


for command in (
    db.db,
    scan.scan,
    scan.diff,
    scan.pr,
    audit.audit,
    audit.schedule,
    trust.trust,
    audit.issues_command,
    rotation.queue,
    rotation.show,
    rotation.claim,
    rotation.ignore,
    rotation.unignore,
    rotation.policy,
    rotation.stats,
    sbom.sbom,
    witness.witness,
    licenses.licenses,
    org.org,
):
    cli.add_command(command)


def run(argv: Sequence[str], settings: Settings) -> int:
    """Parse and run through click; every error a user can cause becomes a message and an
    exit code."""
    try:
        result = cli.main(args=list(argv), prog_name="triage", standalone_mode=False, obj=settings)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_INPUT
    except click.ClickException as exc:
        exc.show()
        return EXIT_INPUT
    except TriageError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else EXIT_OK
