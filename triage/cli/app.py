"""The click application: every command, one module per command group. A command's module is
imported only when that command runs (or --help lists them all), so `triage diff` does not
load the organisation, SBOM or rotation commands."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import click

from triage import __version__
from triage.cli.entry import report_error
from triage.errors import EXIT_INPUT, EXIT_OK, TriageError
from triage.settings import Settings

# name -> (module under triage.cli, the click command's attribute), in --help's order.
COMMANDS = {
    "db": ("db", "db"),
    "scan": ("scan", "scan"),
    "diff": ("scan", "diff"),
    "pr": ("scan", "pr"),
    "audit": ("audit", "audit"),
    "schedule": ("audit", "schedule"),
    "trust": ("trust", "trust"),
    "issues": ("audit", "issues_command"),
    "queue": ("rotation", "queue"),
    "show": ("rotation", "show"),
    "claim": ("rotation", "claim"),
    "ignore": ("rotation", "ignore"),
    "unignore": ("rotation", "unignore"),
    "policy": ("rotation", "policy"),
    "stats": ("rotation", "stats"),
    "sbom": ("sbom", "sbom"),
    "witness": ("witness", "witness"),
    "licenses": ("licenses", "licenses"),
    "org": ("org", "org"),
    "fix": ("fix", "fix"),
}


class Commands(click.Group):
    """The commands of COMMANDS, each loaded when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"triage.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="triage")
def cli() -> None:
    """triage: find known advisories in locked Python dependencies and keep them triaged."""


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
