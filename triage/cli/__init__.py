"""Command line: parses arguments and calls `service`; nothing else lives here.

The entry point loads click only for the commands that need it: a plain `triage scan`, the
command CI runs on every push, is parsed here without it (click alone costs about 40 ms of
start-up on a 2-core machine, more than the rest of a warm scan)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the environment is read once, here."""
    from triage.cli.entry import quick_scan, report_error
    from triage.errors import TriageError
    from triage.settings import Settings

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_environment()
    except TriageError as exc:
        return report_error(exc)
    done = quick_scan(args, settings)
    if done is not None:
        return done
    from triage.cli.app import run

    return run(args, settings)
