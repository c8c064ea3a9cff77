"""What every command shares: the common options (SPEC §6), the Workspace they build, and
output on stderr (messages, a progress bar on a terminal only)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from msgspec import Struct
from msgspec.structs import replace

from triage.cli.entry import build_workspace, located, showing_progress
from triage.models import Format
from triage.settings import Settings

if TYPE_CHECKING:
    from triage.service.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
# What a command shows, by format: each writes the value to stdout. A command's --format
# choices are its table's keys, so a format is offered exactly when it can be shown.
Renderers = Mapping[Format, Callable[[T], None]]
# Commands whose output is a message, not a report: --format json is refused, not ignored.
TEXT_ONLY = (Format.TEXT,)
TEXT_OR_JSON = (Format.TEXT, Format.JSON)


def echoed(render: Callable[[T], str]) -> Callable[[T], None]:
    """A renderer to text (JSON, Markdown, HTML...) as one that writes it to stdout."""
    return lambda value: click.echo(render(value), nl=False)


class Common(Struct, frozen=True):
    output_format: Format
    workspace: Workspace
    verbosity: int

    def show(self, renderers: Renderers[T], value: T) -> None:
        """`value` written to stdout in the format asked for."""
        renderers[self.output_format](value)

    def echo(self, renderers: Mapping[Format, Callable[[T], str]], value: T) -> None:
        """`value` rendered to text in the format asked for, written to stdout."""
        click.echo(renderers[self.output_format](value), nl=False)

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    def at(self, root: Path | None, lockfiles: Sequence[Path] = ()) -> Workspace:
        """The workspace for the project at PATH (default: the repository's root)."""
        return located(self.workspace, root, lockfiles)

    def say(self, message: str) -> None:
        if self.verbosity >= 0:
            click.echo(message, err=True)

    def progress(self, workspace: Workspace) -> AbstractContextManager[Workspace]:
        """The workspace showing its phases: a bar on a terminal, lines in a log."""
        return showing_progress(workspace, self.verbosity)


def settings() -> Settings:
    """The settings `main` read from the environment (read now when a test calls the group)."""
    context = click.get_current_context()
    root = context.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings.from_environment()
    return root.obj


def path_option(name: str, help_text: str) -> Callable[[F], F]:
    """An option naming a file or folder, absent unless given."""
    return click.option(name, type=click.Path(path_type=Path), default=None, help=help_text)


def common_options(formats: Iterable[Format] = TEXT_OR_JSON) -> Callable[[F], F]:
    """The options every subcommand accepts after its name (SPEC §6); `formats` (a sequence,
    or the command's renderer table) are its --format choices, the first the default."""
    offered = [str(format_) for format_ in formats]

    def decorate(command: F) -> F:
        @click.option(
            "--format",
            "output_format",
            type=click.Choice(offered),
            default=offered[0],
            show_default=True,
            help="Output format.",
        )
        @path_option(
            "--db",
            "Advisory database [default: $TRIAGE_DB, else .triage/triage.db at the "
            "repository's root].",
        )
        @path_option("--config", "Policy file [default: deny.toml at the repository's root].")
        @path_option(
            "--trust-store", "Trust anchors [default: trust-store/ at the repository's root]."
        )
        @click.option(
            "--offline",
            is_flag=True,
            help="Fetch nothing from the package index: use what is cached [$TRIAGE_OFFLINE].",
        )
        @click.option("-v", "--verbose", count=True, help="More output on stderr.")
        @click.option("-q", "--quiet", count=True, help="Less output on stderr.")
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            output_format: str,
            db: Path | None,
            config: Path | None,
            trust_store: Path | None,
            offline: bool,
            verbose: int,
            quiet: int,
            **kwargs: Any,
        ) -> Any:
            read = replace(settings(), offline=True) if offline else settings()
            workspace = build_workspace(read, db=db, config=config, trust_store=trust_store)
            common = Common(Format(output_format), workspace, verbose - quiet)
            return command(*args, common=common, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def path_argument(command: F) -> F:
    """PATH: the project's root [default: the root of the git repository holding the current
    folder, else the current folder]."""
    return click.argument(
        "path", type=click.Path(path_type=Path, file_okay=False), required=False, default=None
    )(command)


def lockfile_options(command: F) -> F:
    """PATH (the repository root) and --lockfile F (repeatable), for commands reading locks."""
    command = click.option(
        "--lockfile",
        "lockfiles",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Read this lockfile instead of discovering them; repeatable.",
    )(command)
    return path_argument(command)


def witness_option(command: F) -> F:
    """--witness FILE [--witness-key NAME] on scan, diff and audit (SPEC §12); the command
    gets `witness`: where and with which key, or None."""

    @click.option(
        "--witness",
        "witness_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Also write a scan witness here: an in-toto statement of what the verdict was "
        "computed from and what came out, for `triage witness verify` (the policy's clock is "
        "then the start of the day, UTC).",
    )
    @click.option(
        "--witness-key",
        metavar="NAME",
        default=None,
        help="Sign the witness with this key of `triage trust keygen` (its public half in "
        "the trust store's keys/).",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, witness_path: Path | None, witness_key: str | None, **kw: Any) -> Any:
        if witness_key is not None and witness_path is None:
            raise click.UsageError("--witness-key signs a witness: give --witness FILE too")
        target = None
        if witness_path is not None:  # the witness's modules load only for a witness
            from triage.service.witness import WitnessTarget

            target = WitnessTarget(witness_path, witness_key)
        return command(*args, witness=target, **kw)

    return wrapper  # type: ignore[return-value]


def as_option(help_text: str) -> Callable[[F], F]:
    return click.option("--as", "name", default=None, metavar="NAME", help=help_text)


def org_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    return click.option(
        "--org", "org_name", required=required, default=None, metavar="ORG", help=help_text
    )


def engine_option(help_text: str) -> Callable[[F], F]:
    """Where an organisation audit's repositories are read and judged."""
    return click.option(
        "--engine",
        type=click.Choice(["local", "celery"]),
        default="local",
        show_default=True,
        help=help_text,
    )
