"""What the click commands and the click-free path of `triage scan` share: the workspace
the common options build, running a scan, and how an error reaches the user. No click here.

The click-free path serves `triage scan` with the options CI uses (PATH, --lockfile, --db,
--config, --trust-store, --format, -q, -v) in their plain spellings; anything else (--help,
a bad value, an unknown option, bundled flags) is left to click, which says what is wrong
exactly as before. A test runs every form through both and compares."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from triage.errors import EXIT_OK, EXIT_POLICY, TriageError
from triage.models import Format
from triage.settings import Settings

if TYPE_CHECKING:
    from triage.service.witness import WitnessTarget
    from triage.service.workspace import Workspace

# What a report of findings is shown as (scan, diff, pr, audit); SARIF where the files are.
FINDINGS_FORMATS = (Format.TEXT, Format.JSON, Format.MARKDOWN)
SCAN_FORMATS = (*FINDINGS_FORMATS, Format.SARIF)
_COMMON = frozenset({"--format", "--db", "--config", "--trust-store"})
_SCAN_VALUED = _COMMON | {"--lockfile"}
_DIFF_VALUED = _COMMON | {"--base", "--head"}
# Flags a plain scan takes: its report does not depend on the first four; --offline is read.
_FLAGS = {"-q", "--quiet", "-v", "--verbose", "--offline"}


def report_error(error: TriageError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return error.exit_code


def build_workspace(
    settings: Settings,
    *,
    db: Path | None,
    config: Path | None,
    trust_store: Path | None,
) -> Workspace:
    """The workspace the common options (SPEC §6) describe, at the repository's root: what
    they do not name (policy, trust store, database) is the root's, from any subfolder."""
    from triage.service.workspace import Workspace, project_root

    named_db = db or settings.db_path
    workspace = Workspace(
        db_path=named_db or Path("."),
        db_given=named_db is not None,
        config_path=config or Path("deny.toml"),
        config_required=config is not None,
        trust_store=trust_store,
        settings=settings,
    )
    return workspace.at_root(project_root(None))


def located(ws: Workspace, root: Path | None, lockfiles: Sequence[Path] = ()) -> Workspace:
    """The workspace for the project at PATH (default: the repository's root)."""
    from msgspec.structs import replace

    from triage.service.workspace import project_root

    return replace(ws.at_root(project_root(root)), lockfiles=tuple(lockfiles))


def run_scan(ws: Workspace, output_format: Format, witness: WitnessTarget | None = None) -> int:
    """`triage scan` once its arguments are read: the report on stdout (and the witness in
    `witness`), exit 1 when a finding fails the policy."""
    from triage.core.report import RENDERERS
    from triage.service import scan as use_case

    if not ws.root.is_dir():
        raise TriageError(f"{ws.root}: no such directory to scan")
    if witness is not None:
        from triage.service import witness as recorder

        ws = recorder.pinned(ws)
    result, project = use_case.scan_project(ws)
    if output_format is Format.SARIF:  # SARIF locates findings in the project's files
        text = use_case.sarif_log(ws, result, project)
    else:
        text = RENDERERS[output_format](result)
    if witness is not None:
        recorder.write(
            ws, witness, recorder.working_tree_fields(ws, "scan", result, project=project)
        )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    sys.stdout.flush()
    return EXIT_POLICY if result.fails else EXIT_OK


def _parse(
    args: Sequence[str], valued: frozenset[str], formats: Sequence[Format]
) -> dict[str, list[str]] | None:
    """The options of a plain invocation by name (`valued`: those taking a value, of which
    only --lockfile repeats), or None for anything click should read (so that its messages,
    and --help, stay the only ones)."""
    found: dict[str, list[str]] = {"path": [], "--lockfile": []}
    position = 0
    while position < len(args):
        word = args[position]
        name, equals, value = word.partition("=")
        if word in _FLAGS:
            pass
        elif name in valued:
            if not equals:
                position += 1
                if position == len(args):
                    return None
                value = args[position]
            if not value or value.startswith("-"):
                return None
            if name != "--lockfile" and name in found:
                return None  # given twice: left to click's rule
            found.setdefault(name, []).append(value)
        elif word.startswith("-") or found["path"]:
            return None
        else:
            found["path"].append(word)
        position += 1
    if found.get("--format", ["text"])[0] not in {str(f) for f in formats}:
        return None
    if found["path"] and (not found["path"][0] or Path(found["path"][0]).is_file()):
        return None  # click says the path is a file
    return found


def quick_run(args: Sequence[str], settings: Settings) -> int | None:
    """Runs `triage scan` or `triage diff` without click when the arguments are plain (the
    commands CI runs on every push: click alone costs more than a warm scan's own work);
    None otherwise."""
    if not args or args[0] not in ("scan", "diff"):
        return None
    scanning = args[0] == "scan"
    if scanning:
        found = _parse(args[1:], _SCAN_VALUED, SCAN_FORMATS)
    else:
        found = _parse(args[1:], _DIFF_VALUED, FINDINGS_FORMATS)
        if found is not None and "--base" not in found:
            return None  # click says it is required
    if found is None:
        return None

    def one(name: str) -> Path | None:
        return Path(found[name][0]) if name in found else None

    if "--offline" in args:
        from msgspec.structs import replace

        settings = replace(settings, offline=True)
    try:
        ws = build_workspace(
            settings,
            db=one("--db"),
            config=one("--config"),
            trust_store=one("--trust-store"),
        )
        path = Path(found["path"][0]) if found["path"] else None
        output = Format(found.get("--format", ["text"])[0])
        if scanning:
            ws = located(ws, path, [Path(p) for p in found["--lockfile"]])
            return run_scan(ws, output)
        return run_diff(
            located(ws, path),
            output,
            refs=(found["--base"][0], found.get("--head", ["HEAD"])[0]),
            verbosity=verbosity(args),
        )
    except TriageError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130


def verbosity(args: Sequence[str]) -> int:
    """-v and -q as the click commands count them: each -v one more, each -q one less."""
    return sum(w in ("-v", "--verbose") for w in args) - sum(w in ("-q", "--quiet") for w in args)


def say(message: str, verbosity: int) -> None:
    if verbosity >= 0:
        print(message, file=sys.stderr)


@contextmanager
def showing_progress(ws: Workspace, verbosity: int) -> Iterator[Workspace]:
    """The workspace showing its phases: a bar on a terminal; in a log, one line per phase
    (every phase in CI, those of two seconds or more elsewhere); nothing when quiet."""
    from msgspec.structs import replace

    from triage.cli.progress import phase_lines, progress_bar

    if verbosity < 0:
        yield ws
    elif sys.stderr.isatty() and not ws.settings.ci:
        with progress_bar() as update:
            yield replace(ws, progress=update)
    else:
        shortest = 0.0 if ws.settings.ci else 2.0
        with phase_lines(lambda m: say(m, verbosity), shortest=shortest) as update:
            yield replace(ws, progress=update)


def run_diff(ws: Workspace, output_format: Format, *, refs: tuple[str, str], verbosity: int) -> int:
    """`triage diff` once its arguments are read (the witness and SARIF are click's): the
    report on stdout, exit 1 when it fails the base's policy."""
    from triage.core.report import DIFF_RENDERERS
    from triage.service import diff as use_case

    with showing_progress(ws, verbosity) as shown:
        result = use_case.diff(shown, refs[0], refs[1])
    for warning in result.warnings:
        say(f"warning: {warning}", verbosity)
    sys.stdout.write(DIFF_RENDERERS[output_format](result))
    sys.stdout.flush()
    return EXIT_POLICY if result.fails else EXIT_OK
