"""The Workspace: what every use case works in, built once per command from the arguments and
the settings, so no use case needs more than a handful of its own parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from triage.errors import InputError
from triage.models import Config
from triage.settings import DEFAULT_DB, Settings

if TYPE_CHECKING:
    from triage.github import GitHub
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


@dataclass(frozen=True)
class Workspace:
    root: Path = Path(".")
    db_path: Path = DEFAULT_DB
    config_path: Path = Path("deny.toml")
    config_required: bool = False  # the user named --config: it must exist
    trust_store: Path | None = None  # default: the root's trust-store/
    lockfiles: tuple[Path, ...] = ()  # named with --lockfile; else discovered
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], dt.datetime] | None = None  # default: the real clock, UTC
    progress: Progress | None = None
    given_config: Config | None = None  # a policy already read; else config_path is read

    @cached_property
    def config(self) -> Config:
        if self.given_config is not None:
            return self.given_config
        from triage.config import load_config

        return load_config(self.config_path, required=self.config_required)

    @property
    def trust_dir(self) -> Path:
        return self.trust_store if self.trust_store is not None else self.root / "trust-store"

    def now(self) -> dt.datetime:
        return self.clock() if self.clock is not None else utc_now()

    def database(self) -> Database:
        """The database, opened and migrated; use it in a `with` block."""
        from triage.store import Database

        return Database(self.db_path)

    def github(self, *, required: bool = False) -> GitHub | None:
        """The GitHub client when a token is set; None means work locally."""
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
        return GitHub(token, self.settings.github_api(), backoff, pace)
