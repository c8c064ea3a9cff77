"""Command line: parses arguments and calls `service`; nothing else lives here.

Heavy modules (the service and its edges) are imported inside the commands so that
`triage --help` starts fast.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from triage.errors import EXIT_INPUT, EXIT_OK, EXIT_POLICY, TriageError

if TYPE_CHECKING:
    from triage.core.diffing import DiffResult
    from triage.models import Config
    from triage.service import Progress

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_DB = Path(".triage") / "triage.db"


@dataclass(frozen=True)
class Common:
    output_format: str
    db: Path
    config: Path
    config_given: bool
    trust_store: Path
    verbosity: int

    def load_config(self) -> Config:
        from triage import service

        return service.load_config(self.config, required=self.config_given)


def common_options(formats: Sequence[str] = ("text", "json")) -> Callable[[F], F]:
    """The options every subcommand accepts after its name (SPEC §6)."""

    def decorate(command: F) -> F:
        @click.option(
            "--format",
            "output_format",
            type=click.Choice(list(formats)),
            default="text",
            show_default=True,
            help="Output format.",
        )
        @click.option(
            "--db",
            type=click.Path(path_type=Path),
            default=None,
            help="Advisory database [default: $TRIAGE_DB or .triage/triage.db].",
        )
        @click.option(
            "--config",
            type=click.Path(path_type=Path),
            default=None,
            help="Policy file [default: ./deny.toml].",
        )
        @click.option(
            "--trust-store",
            type=click.Path(path_type=Path),
            default=Path("trust-store"),
            show_default=True,
            help="Trust anchors.",
        )
        @click.option("-v", "--verbose", count=True, help="More output on stderr.")
        @click.option("-q", "--quiet", count=True, help="Less output on stderr.")
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            output_format: str,
            db: Path | None,
            config: Path | None,
            trust_store: Path,
            verbose: int,
            quiet: int,
            **kwargs: Any,
        ) -> Any:
            common = Common(
                output_format=output_format,
                db=db or Path(os.environ.get("TRIAGE_DB") or DEFAULT_DB),
                config=config or Path("deny.toml"),
                config_given=config is not None,
                trust_store=trust_store,
                verbosity=verbose - quiet,
            )
            return command(*args, common=common, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def lockfile_options(command: F) -> F:
    """PATH (the repository root) and --lockfile F (repeatable), for commands reading locks."""
    command = click.option(
        "--lockfile",
        "lockfiles",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Read this lockfile instead of discovering them; repeatable.",
    )(command)
    return click.argument(
        "path", type=click.Path(path_type=Path, file_okay=False), default=Path(".")
    )(command)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _say(common: Common, message: str) -> None:
    if common.verbosity >= 0:
        click.echo(message, err=True)


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def _progress(common: Common) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal; nothing at all in CI or when piped."""
    if not _interactive() or common.verbosity < 0:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as Bar

    with Bar(console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="triage")
def cli() -> None:
    """triage: find known advisories in locked Python dependencies and keep them triaged."""


@cli.group()
def db() -> None:
    """The advisory database: sync and status."""


@db.command("sync")
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="S",
    help="Directory, git checkout, OSV zip (path or URL) or osv:<Ecosystem>; "
    "repeatable [default: [advisories] sources of deny.toml].",
)
@common_options()
def db_sync(sources: tuple[str, ...], common: Common) -> int:
    """Import advisories incrementally; prints added / modified / withdrawn counts."""
    from triage import service

    names = list(sources) or list(common.load_config().advisories.sources)
    with _progress(common) as progress:
        report = service.sync(common.db, names, _now(), progress, require_all=bool(sources))
    for message in report.unreachable + report.warnings:
        _say(common, f"warning: {message}")
    if report.used_snapshot:
        _say(common, "warning: no source was reachable; loaded the embedded offline snapshot")
    c = report.counts
    click.echo(
        f"synced {len(names)} source(s) into {common.db}: added {c.added}, modified "
        f"{c.modified}, withdrawn {c.withdrawn}, removed {c.removed}, unchanged {c.unchanged}, "
        f"skipped {c.skipped}; {report.records} records"
    )
    return EXIT_OK


@db.command("status")
@common_options()
def db_status(common: Common) -> int:
    """Record count, sources, last sync, data age and content digest."""
    import json

    from triage import service

    info = service.status(common.db, _now())
    fields = {
        "database": str(common.db),
        "records": info.records,
        "sources": list(info.sources),
        "last_sync": info.last_sync,
        "newest_modified": info.newest_modified,
        "age_days": info.age_days,
        "digest": info.digest,
    }
    if common.output_format == "json":
        click.echo(json.dumps(fields, indent=2))
    else:
        for key, value in fields.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{key.replace('_', ' ')}: {shown if shown not in (None, '') else '-'}")
    return EXIT_OK


@cli.command()
@lockfile_options
@common_options(("text", "json", "markdown"))
def scan(path: Path, lockfiles: tuple[Path, ...], common: Common) -> int:
    """Findings of the working tree at PATH, policy applied."""
    from triage import service
    from triage.core.report import RENDERERS

    if not path.is_dir():
        raise TriageError(f"{path}: no such directory to scan")
    result = service.scan(path, list(lockfiles), common.db, common.load_config(), _now())
    click.echo(RENDERERS[common.output_format](result), nl=False)
    return EXIT_POLICY if result.fails else EXIT_OK


def _repo_relative(path: Path, repo: Path) -> str:
    """A --config/--trust-store path (relative ones from the repository root) as a path inside
    the git tree."""
    absolute = path if path.is_absolute() else repo / path
    try:
        return absolute.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise TriageError(
            f"{path}: not inside the repository {repo}",
            hint="diff reads the policy from git objects; name a file inside the repository",
        ) from None


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--base", "base_ref", required=True, help="Base branch or commit.")
@click.option("--head", "head_ref", default="HEAD", show_default=True, help="Head ref.")
@common_options(("text", "json", "markdown"))
def diff(path: Path, base_ref: str, head_ref: str, common: Common) -> int:
    """Findings new at HEAD against the merge-base; reads git objects, never checks out."""
    return _report_diff(_run_diff(path, base_ref, head_ref, common), common)


def _run_diff(path: Path, base_ref: str, head_ref: str, common: Common) -> DiffResult:
    from triage import service

    return service.diff(
        path,
        base_ref,
        head_ref,
        common.db,
        _now(),
        config_path=_repo_relative(common.config, path),
        trust_dir=_repo_relative(common.trust_store, path),
        pypi_index=os.environ.get("TRIAGE_PYPI_URL") or service.DEFAULT_PYPI,
    )


def _report_diff(result: DiffResult, common: Common) -> int:
    from triage.core.report import DIFF_RENDERERS

    for warning in result.warnings:
        _say(common, f"warning: {warning}")
    click.echo(DIFF_RENDERERS[common.output_format](result), nl=False)
    return EXIT_POLICY if result.fails else EXIT_OK


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option(
    "--repo",
    "repository",
    required=True,
    metavar="OWNER/NAME",
    help="The GitHub repository of the pull request.",
)
@click.option(
    "--pr", "number", required=True, type=click.IntRange(min=1), help="Pull request number."
)
@click.option("--base", "base_ref", required=True, help="Base branch or commit.")
@click.option("--head", "head_ref", default="HEAD", show_default=True, help="Head ref.")
@common_options(("text", "json", "markdown"))
def pr(
    path: Path, repository: str, number: int, base_ref: str, head_ref: str, common: Common
) -> int:
    """`diff`, then create or edit the one triage comment on the pull request."""
    import re

    from triage import service
    from triage.github_api import GitHub

    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise TriageError(f"--repo {repository!r} is not OWNER/NAME")
    github = GitHub.from_environment()
    result = _run_diff(path, base_ref, head_ref, common)
    posted = service.pr_comment(github, repository, number, result)
    _say(common, f"pull request comment {posted.outcome}: {posted.url}")
    return _report_diff(result, common)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--ref", default=None, help="Audit this git ref instead of the working tree.")
@click.option(
    "--repo",
    "repository",
    default=None,
    metavar="OWNER/NAME",
    help="GitHub repository for tracking issues [default: [github] repository].",
)
@common_options(("text", "json", "markdown"))
def audit(path: Path, ref: str | None, repository: str | None, common: Common) -> int:
    """Daily job: sync, scan the default branch, reconcile tracking issues, record the run.

    Tracking issues go to GitHub when GITHUB_TOKEN is set and a repository is known, else to
    the local tracker in the database (`triage issues`)."""
    from triage import service
    from triage.core.report import RENDERERS

    cfg = common.load_config()
    factory = service.tracker_factory(
        repository or cfg.github.repository, cfg.github.labels, os.environ, _now()
    )
    with _progress(common) as progress:
        report = service.audit(
            path,
            common.db,
            cfg,
            factory,
            _now,
            ref=ref,
            progress=progress,
            trust_store=common.trust_store,
            pypi_index=os.environ.get("TRIAGE_PYPI_URL") or service.DEFAULT_PYPI,
        )
    if report.skipped:
        _say(common, f"audit skipped: {report.skipped}")
        return EXIT_OK
    assert report.scan is not None and report.sync is not None
    for message in report.sync.unreachable + report.sync.warnings + report.warnings:
        _say(common, f"warning: {message}")
    click.echo(RENDERERS[common.output_format](report.scan), nl=False)
    done = ", ".join(f"{what} {n}" for what, n in report.actions.items())
    verdicts = [item.verdict.value for item in report.trust]
    trusted = ", ".join(f"{verdicts.count(v)} {v}" for v in ("trusted", "untrusted", "unsigned"))
    _say(common, f"trust ({cfg.trust.mode}): {trusted}")
    _say(common, f"audit run {report.run}: tracking issues {done}")
    return EXIT_POLICY if report.fails else EXIT_OK


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@common_options()
def schedule(path: Path, common: Common) -> int:
    """Run the audit on [schedule] audit (cron, UTC) until SIGTERM or SIGINT."""
    import logging

    from jobs.audit import AuditJob
    from jobs.scheduler import AuditScheduler, cron_trigger, run_until_signalled

    cfg = common.load_config()
    try:
        trigger = cron_trigger(cfg.schedule_audit)
    except ValueError as exc:
        raise TriageError(
            f"{common.config}: schedule.audit: {exc}",
            hint='write a five-field cron expression such as "0 9 * * *"',
        ) from exc
    logging.basicConfig(
        level=logging.INFO if common.verbosity >= 0 else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    job = AuditJob(path, common.db, common.config)
    run_until_signalled(AuditScheduler(job, trigger, job.last_success))
    return EXIT_OK


@cli.group()
def trust() -> None:
    """Verify locked artifacts' signatures under the [trust] mode."""


@trust.command("check")
@lockfile_options
@click.option(
    "--provenance-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of <artifact>.provenance / <artifact>.publish.attestation files "
    "[default: PyPI's Integrity API ($TRIAGE_PYPI_URL), cached in the database].",
)
@common_options()
def trust_check(
    path: Path, lockfiles: tuple[Path, ...], provenance_dir: Path | None, common: Common
) -> int:
    """Artifact -> verdict with the reason; exit 1 when the trust policy fails."""
    from triage import service
    from triage.core.report import trust_json, trust_text

    cfg = common.load_config()
    report = service.trust_check(
        path,
        list(lockfiles),
        cfg,
        common.trust_store,
        provenance_dir,
        common.db,
        _now(),
        index=os.environ.get("TRIAGE_PYPI_URL") or service.DEFAULT_PYPI,
    )
    for warning in report.warnings:
        _say(common, f"warning: {warning}")
    render = trust_json if common.output_format == "json" else trust_text
    click.echo(render(report.results, cfg.trust.mode), nl=False)
    return EXIT_POLICY if report.fails else EXIT_OK


def _default_private_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "triage" / "keys"


@trust.command("keygen")
@click.argument("name")
@click.option(
    "--private-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the private key goes [default: ~/.config/triage/keys].",
)
@common_options()
def trust_keygen(name: str, private_dir: Path | None, common: Common) -> int:
    """New ed25519 key NAME: private key 0600 outside the repository, public key in
    trust-store/keys/NAME.pub (id ed25519:NAME)."""
    from triage import service

    private, public = service.trust_keygen(
        name, private_dir or _default_private_dir(), common.trust_store, Path.cwd()
    )
    click.echo(f"private key: {private}\npublic key:  {public} (id ed25519:{name})")
    return EXIT_OK


@trust.command("certify")
@click.argument("requirement", metavar="PKG==VER")
@click.option("--criteria", required=True, help="What was checked, e.g. safe-to-deploy.")
@click.option("--key", "key_name", required=True, help="Key name (see `trust keygen`).")
@click.option("--notes", default="", help="What the audit found.")
@click.option("--who", default=None, help="Auditor [default: $USER].")
@click.option("--from", "from_version", default=None, help="Delta audit from this version.")
@click.option(
    "--private-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the private key is [default: ~/.config/triage/keys].",
)
@common_options()
def trust_certify(
    requirement: str,
    criteria: str,
    key_name: str,
    notes: str,
    who: str | None,
    from_version: str | None,
    private_dir: Path | None,
    common: Common,
) -> int:
    """Append a signed audit record to trust-store/audits.toml (layout and comments kept)."""
    from triage import service

    record = service.trust_certify(
        requirement,
        criteria,
        key_name,
        private_dir or _default_private_dir(),
        common.trust_store,
        who or os.environ.get("USER") or "unknown",
        _now().date(),
        notes=notes,
        from_version=from_version,
    )
    click.echo(
        f"certified {record['package']} {record['version']} ({criteria}) with {record['key']}"
    )
    return EXIT_OK


@cli.command("issues")
@click.option("--all", "show_all", is_flag=True, help="Closed issues too.")
@common_options()
def issues_command(show_all: bool, common: Common) -> int:
    """The local tracker's issues (used when no GitHub token is set)."""
    import json

    from triage import service

    rows = service.local_issues(common.db, include_closed=show_all)
    if common.output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        click.echo(f"#{row['number']:<4} {row['state']:<6} {row['title']}")
    if not rows:
        click.echo("no tracking issues")
    return EXIT_OK


# --- the rotation ---------------------------------------------------------------------------


def _me() -> str:
    """Who runs the command, as the history records it."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def as_option(help_text: str) -> Callable[[F], F]:
    return click.option("--as", "name", default=None, metavar="NAME", help=help_text)


def _severity_choice() -> click.Choice[str]:
    return click.Choice(["critical", "high", "medium", "low", "unknown"])


@cli.command()
@click.option("--mine", is_flag=True, help="Only findings assigned to me (see --as).")
@click.option("--overdue", is_flag=True, help="Only findings past their SLA due date.")
@click.option(
    "--severity", "severities", multiple=True, type=_severity_choice(), help="Repeatable."
)
@as_option("Who 'me' is for --mine [default: $USER].")
@common_options()
def queue(
    mine: bool, overdue: bool, severities: tuple[str, ...], name: str | None, common: Common
) -> int:
    """Findings to work (new or claimed): overdue first, then by SLA due date."""
    from triage import service, tables
    from triage.core.rotation_report import queue_json

    now = _now()
    records = service.queue(
        common.db,
        now,
        assignee=(name or _me()) if mine else None,
        overdue_only=overdue,
        severities=severities,
    )
    if common.output_format == "json":
        click.echo(queue_json(records, now), nl=False)
    else:
        tables.print_queue(tables.console(), records, now)
    return EXIT_OK


@cli.command()
@click.argument("key")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@common_options()
def show(key: str, path: Path, common: Common) -> int:
    """Everything known about finding KEY (ADVISORY/package) in the project at PATH."""
    from triage import service, tables
    from triage.core.rotation_report import show_json

    now = _now()
    details = service.show(path, common.db, common.load_config(), key, now)
    if common.output_format == "json":
        click.echo(show_json(details, now), nl=False)
    else:
        tables.print_show(tables.console(), details, now)
    return EXIT_OK


@cli.command()
@click.argument("key")
@as_option("Assignee; a GitHub login also gets the tracking issue [default: $USER].")
@common_options()
def claim(key: str, name: str | None, common: Common) -> int:
    """Take finding KEY: assign it (and its GitHub tracking issue when NAME is a login)."""
    from triage import service

    who = name or _me()
    result = service.claim(common.db, key, who, who, _now(), service.connect_github(os.environ))
    click.echo(
        f"{result.record.key}: {result.record.state.value}, assigned to "
        f"{result.record.assignee} ({result.github})"
    )
    return EXIT_OK


@cli.command()
@click.argument("key")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option("--reason", required=True, help="Why the finding is acceptable.")
@click.option("--issue", default=None, metavar="URL", help="The tracking issue.")
@click.option(
    "--open-issue", is_flag=True, help="Open (or reuse) the GitHub tracking issue for it."
)
@click.option(
    "--expires", default=None, metavar="YYYY-MM-DD", help="End of the ignore [default: 90 days]."
)
@click.option("--package", "package_only", is_flag=True, help="Only this key's package.")
@click.option("--force", is_flag=True, help="Accept an expiry more than a year away.")
@as_option("Who is recorded in the history [default: $USER].")
@common_options()
def ignore(
    key: str,
    path: Path,
    reason: str,
    issue: str | None,
    open_issue: bool,
    expires: str | None,
    package_only: bool,
    force: bool,
    name: str | None,
    common: Common,
) -> int:
    """Accept finding KEY: add an entry to deny.toml's ignore list, in place."""
    from triage import service

    result = service.ignore(
        path,
        common.db,
        common.config,
        key,
        reason=reason,
        issue=issue,
        expires=expires,
        package_only=package_only,
        force=force,
        open_issue=open_issue,
        who=name or _me(),
        now=_now(),
        github=service.connect_github(os.environ) if open_issue else None,
    )
    entry = result.entry
    scope = f" for {entry['package']}" if "package" in entry else ""
    click.echo(
        f"{common.config}: advisories.ignore[{result.index}] ignores {entry['id']}{scope} "
        f"until {entry['expires'].isoformat()} ({entry['issue']})"
    )
    _say(common, _history_note(result.recorded))
    return EXIT_OK


def _history_note(keys: Sequence[str]) -> str:
    if not keys:
        return "no recorded finding is covered yet; the next audit records it"
    return f"recorded in the history of {', '.join(keys)}"


@cli.command()
@click.argument("ident", metavar="ID")
@as_option("Who is recorded in the history [default: $USER].")
@common_options()
def unignore(ident: str, name: str | None, common: Common) -> int:
    """Remove the ignore of advisory ID (or ID/package) from deny.toml, in place."""
    from triage import service

    rule, keys = service.unignore(common.db, common.config, ident, name or _me(), _now())
    scope = f" for {rule.package}" if rule.package else ""
    click.echo(f"{common.config}: removed advisories.ignore[{rule.index}] ({rule.id}{scope})")
    _say(common, _history_note(keys))
    return EXIT_OK


@cli.group()
def policy() -> None:
    """The ignore ledger's lints."""


@policy.command("check")
@lockfile_options
@common_options()
def policy_check(path: Path, lockfiles: tuple[Path, ...], common: Common) -> int:
    """Lint deny.toml's ignores: missing reason or issue, expired, expiring within 7 days,
    unused, unknown advisory ids, tracking issues closed while the ignore stands."""
    from triage import service
    from triage.core.rotation_report import policy_json, policy_text

    result = service.policy_check(
        path,
        list(lockfiles),
        common.db,
        common.load_config(),
        _now(),
        service.connect_github(os.environ),
    )
    render = policy_json if common.output_format == "json" else policy_text
    click.echo(render(result.diagnostics, result.notes), nl=False)
    return EXIT_POLICY if result.fails else EXIT_OK


@cli.command()
@click.option(
    "--window",
    default="P90D",
    show_default=True,
    help="ISO 8601 duration the time-to-triage and time-to-fix medians look back over.",
)
@common_options(("text", "json", "html"))
def stats(window: str, common: Common) -> int:
    """Open findings by severity, state and age; overdue; median time to triage and to fix.
    `--format html` writes a page with a chart of open findings per audit run."""
    from triage import service, tables
    from triage.config import parse_duration
    from triage.core.rotation_report import stats_html, stats_json

    span = parse_duration(window)
    if span is None:
        raise TriageError(f"--window {window!r} is not an ISO 8601 duration", hint='e.g. "P30D"')
    result = service.stats(common.db, _now(), span)
    if common.output_format == "json":
        click.echo(stats_json(result), nl=False)
    elif common.output_format == "html":
        click.echo(stats_html(result), nl=False)
    else:
        tables.print_stats(tables.console(), result)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every error a user can cause becomes a message and an exit code."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="triage", standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_INPUT
    except click.ClickException as exc:
        exc.show()
        return EXIT_INPUT
    except TriageError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else EXIT_OK
