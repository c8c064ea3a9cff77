"""Command line: parses arguments and calls `service`; nothing else lives here.

The entry point loads click only for the commands that need it: a plain `triage scan`, the
command CI runs on every push, is parsed here without it (click alone costs about 40 ms of
start-up on a 2-core machine, more than the rest of a warm scan)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from triage.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the environment is read once, here. The last line of defence: anything
    not handled below is a bug, said in one line (the traceback with -v) and exit 5, which
    no caller can read as a pass or as the policy failing. Everything written shows as
    written (cli.output)."""
    from triage.cli.output import visible_streams

    args = list(sys.argv[1:] if argv is None else argv)
    with visible_streams():
        return _run(args)


def console() -> NoReturn:
    """The `triage` command: `main`, then out as soon as what it wrote is flushed. The
    interpreter's own shutdown (tearing down every module) would add about 10 ms to each run
    and has nothing left to do: databases are closed and threads joined by then. A plain scan
    or diff runs without the cyclic collector (see `_run`): one bounded piece of work that
    leaves nothing in cycles, whose collections over the objects of start-up and matching
    cost ~5 ms."""
    import gc
    import os

    gc.disable()
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away: what it read stands
        pass
    os._exit(code)


def _run(args: list[str]) -> int:
    if args == ["--version"]:  # what click would print, without loading the application
        from triage import __version__

        print(f"triage, version {__version__}")
        return 0
    from triage.settings import Settings

    settings: Settings | None = None
    try:
        from triage.cli.entry import quick_run, report_error
        from triage.errors import TriageError

        try:
            settings = Settings.from_environment()
        except TriageError as exc:
            return report_error(exc)
        done = quick_run(args, settings)
        if done is not None:
            return done
        import gc

        gc.enable()  # any other command may run long (an audit, a schedule): collected as usual
        from triage.cli.app import run

        return run(args, settings)
    except Exception as exc:  # the one place every failure is caught
        return _internal_error(exc, args, settings)


def _internal_error(exc: Exception, args: Sequence[str], settings: Settings | None) -> int:
    from triage.errors import EXIT_INTERNAL

    said = f"{type(exc).__name__}: {str(exc)[:300]}"
    if any(a in ("-v", "--verbose") or a.startswith("-vv") for a in args):
        import traceback

        said = "".join(traceback.format_exception(exc)) + said
    # Whatever a bug's message holds, the token and the broker's URL never reach output.
    for secret in (settings.github_token, settings.broker_url) if settings else ():
        if secret:
            said = said.replace(secret, "***")
    print(
        f"internal error: {said} (a bug in triage, exit 5; run again with -v for the "
        "traceback and report it)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL
