"""What the click commands and the click-free path of `triage scan` share: the workspace
the common options build, running a scan, and how an error reaches the user. No click here.

The click-free path serves `triage scan` with the options CI uses (PATH, --lockfile, --db,
--config, --trust-store, --format, -q, -v) in their plain spellings; anything else (--help,
a bad value, an unknown option, bundled flags) is left to click, which says what is wrong
exactly as before. A test runs every form through both and compares."""

from __future__ import annotations

import sys
from collections.abc import Sequence
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
_VALUED = {"--format", "--db", "--config", "--trust-store", "--lockfile"}
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
    from dataclasses import replace

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


def _parse_scan(args: Sequence[str]) -> dict[str, list[str]] | None:
    """The options of a plain `scan` invocation by name, or None for anything click should
    read (so that its messages, and --help, stay the only ones)."""
    found: dict[str, list[str]] = {"path": [], "--lockfile": []}
    position = 0
    while position < len(args):
        word = args[position]
        name, equals, value = word.partition("=")
        if word in _FLAGS:
            pass
        elif name in _VALUED:
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
    if found.get("--format", ["text"])[0] not in {str(f) for f in SCAN_FORMATS}:
        return None
    if found["path"] and (not found["path"][0] or Path(found["path"][0]).is_file()):
        return None  # click says the path is a file
    return found


def quick_scan(args: Sequence[str], settings: Settings) -> int | None:
    """Runs `triage scan` without click when its arguments are plain; None otherwise."""
    if not args or args[0] != "scan":
        return None
    found = _parse_scan(args[1:])
    if found is None:
        return None

    def one(name: str) -> Path | None:
        return Path(found[name][0]) if name in found else None

    if "--offline" in args:
        from dataclasses import replace

        settings = replace(settings, offline=True)
    try:
        ws = build_workspace(
            settings,
            db=one("--db"),
            config=one("--config"),
            trust_store=one("--trust-store"),
        )
        path = Path(found["path"][0]) if found["path"] else None
        ws = located(ws, path, [Path(p) for p in found["--lockfile"]])
        return run_scan(ws, Format(found.get("--format", ["text"])[0]))
    except TriageError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        return 130
