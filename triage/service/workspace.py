"""The Workspace: what every use case works in, built once per command from the arguments and
the settings, so no use case needs more than a handful of its own parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field
from msgspec.structs import replace

from triage.errors import InputError
from triage.models import Config
from triage.service.fetching import Lookups
from triage.settings import DEFAULT_DB, Settings

if TYPE_CHECKING:
    from triage.github import GitHub
    from triage.github.session import Budget
    from triage.store import Database

Progress = Callable[[str, int, int | None], None]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def project_root(path: Path | None) -> Path:
    """PATH as given; else the root of the git repository holding the current folder (run
    from a subfolder, a scan still reads every lockfile), else the current folder. The root
    is the nearest folder up with a `.git` (a directory, or the file of a worktree or
    submodule), found without starting git, which would cost a scan more than matching."""
    if path is not None:
        return path
    here = Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return Path(".")


class Workspace(Struct, frozen=True, dict=True):  # dict: for the cached config
    root: Path = Path(".")
    db_path: Path = DEFAULT_DB
    config_path: Path = Path("deny.toml")
    config_required: bool = False  # the user named --config: it must exist
    trust_store: Path | None = None  # default: the root's trust-store/
    db_given: bool = False  # --db or TRIAGE_DB named the database; else it is the root's
    lockfiles: tuple[Path, ...] = ()  # named with --lockfile; else discovered
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], dt.datetime] | None = None  # default: the real clock, UTC
    progress: Progress | None = None
    given_config: Config | None = None  # a policy already read; else config_path is read
    # Derive everything from the primary facts (witness verify): no match index, no cached
    # lockfile readings, so nothing derived can vouch for itself.
    reference: bool = False
    # The run's requests to the package index: kept by every copy of this workspace, so the
    # first failure ends them all.
    lookups: Lookups = field(default_factory=Lookups)

    @cached_property
    def config(self) -> Config:
        if self.given_config is not None:
            return self.given_config
        from triage.config import load_config

        return load_config(self.config_path, required=self.config_required)

    @property
    def trust_dir(self) -> Path:
        return self.trust_store if self.trust_store is not None else self.root / "trust-store"

    def next_run(self) -> Workspace:
        """This workspace for another run (a scheduled audit): index lookups of its own, so
        one run's failure, deadline or pages never carry into the next; deny.toml is read
        again, and may be absent."""
        return replace(self, lookups=Lookups(), config_required=False)

    def now(self) -> dt.datetime:
        return self.clock() if self.clock is not None else utc_now()

    def at_root(self, root: Path) -> Workspace:
        """This workspace for the project at `root`: what the options did not name (policy,
        trust store, database) is the root's own, whatever folder the command ran in."""
        return replace(
            self,
            root=root,
            config_path=self.config_path if self.config_required else root / "deny.toml",
            db_path=self.db_path if self.db_given else root / DEFAULT_DB,
        )

    def require_database(self) -> None:
        """For a command that only reads: a missing database is exit 3, never created."""
        self.database(existing=True).close()

    def database(self, *, existing: bool = False) -> Database:
        """The database, opened and migrated; use it in a `with` block. `existing`: for
        commands that only read, a missing database is an error (exit 3), never created.
        Only the root's own `.triage/` folder is made; a folder --db names must exist."""
        from triage.errors import DatabaseError
        from triage.store import Database

        path = self.db_path
        if existing and not path.is_file():
            raise DatabaseError(
                f"{path}: no advisory database here",
                hint="run `triage db sync` first, or point --db (or TRIAGE_DB) at one",
            )
        if not path.parent.is_dir():
            if self.db_given:
                raise InputError(
                    f"{path}: the folder {path.parent} does not exist",
                    hint="create it, or name a database in an existing folder with --db",
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Like a virtualenv's: the folder says of itself that git should not track it,
                # so it never shows up as clutter in the repository.
                (path.parent / ".gitignore").write_text("# made by triage\n*\n")
            except OSError as exc:
                raise DatabaseError(
                    f"{path.parent}: cannot create the database folder: {exc.strerror}",
                    hint="run triage where it may write, or point --db at a writable place",
                ) from exc
        return Database(path)

    def github(self, *, required: bool = False, shared: Budget | None = None) -> GitHub | None:
        """The GitHub client when a token is set, spending `shared` (the token's budget in
        this run) when given; None means work locally."""
        token = self.settings.github_token
        if not token:
            if required:
                raise InputError(
                    "GITHUB_TOKEN is not set",
                    hint="export a token with issues and pull-requests write access",
                )
            return None
        from triage.github import GitHub

        backoff, pace = self.settings.github_timing()
        return GitHub(token, self.settings.github_api(), backoff, pace=pace, shared=shared)
