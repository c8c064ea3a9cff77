"""Shared fixtures. Real data lives read-only in ../shared/data and is cited by path."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import triage.github.session
import triage.service.workspace
from tests.github_server import GitHubServer
from triage.service import Workspace, sync
from triage.settings import Settings

if TYPE_CHECKING:
    from tests.org_world import FirstRun

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
ADVISORY_DB = SHARED_DATA / "pypa-advisory-db"
ADVISORY_DB_OLD = SHARED_DATA / "pypa-advisory-db-2024-02-28"
LOCKFILES = SHARED_DATA / "lockfiles"
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
GITHUB_TOKEN = "ghp_test_token_do_not_print"


def workspace(db: Path, now: dt.datetime = NOW, root: Path = Path("."), **given: Any) -> Workspace:
    """A workspace on `db` whose clock stands at `now`, as a command would build it (the
    tests' servers are on loopback, over plain http)."""
    # The index is the one the test serves (TRIAGE_PYPI_URL), else a closed loopback port:
    # never PyPI itself.
    index = os.environ.get("TRIAGE_PYPI_URL", "http://127.0.0.1:9")
    given.setdefault("settings", Settings(loopback_http=True, pypi_url=index))
    return Workspace(root=root, db_path=db, clock=lambda: now, **given)


@pytest.fixture(autouse=True)
def no_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the network: the package index is a closed loopback port. Their
    servers are all on loopback, over plain http, which triage fetches only when told."""
    monkeypatch.setenv("TRIAGE_PYPI_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TRIAGE_LOOPBACK_HTTP", "1")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run in process reads the clock at NOW, never today's date: a test's verdict
    must not change with the day it runs on (processes started by a test keep the real one)."""
    monkeypatch.setattr(triage.service.workspace, "utc_now", lambda: NOW)


@pytest.fixture(scope="session")
def synced_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The full PyPA advisory database synced once; tests must not change its advisories."""
    path = tmp_path_factory.mktemp("db") / "triage.db"
    sync.sync(workspace(path), [str(ADVISORY_DB)], require_all=True)
    yield path


def point_at(patch: pytest.MonkeyPatch, server: GitHubServer) -> None:
    """The environment pointing triage at the loopback `server`, with no pacing; waits
    (Retry-After, backoff) recorded, not slept."""
    patch.setattr(triage.github.session, "pause", server.waits.append)
    patch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    patch.setenv("GITHUB_API_URL", server.url)
    patch.setenv("TRIAGE_LOOPBACK_HTTP", "1")  # the loopback server speaks plain http
    patch.setenv("TRIAGE_GITHUB_BACKOFF", "0.01")
    patch.setenv("TRIAGE_GITHUB_PACE", "0")


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubServer]:
    """A loopback GitHub, with the environment pointing triage at it."""
    server = GitHubServer(GITHUB_TOKEN)
    with server.running():
        point_at(monkeypatch, server)
        yield server


@pytest.fixture(scope="session")
def org_advisories(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The advisory records tests/org_world.py's organisation is judged by, and a database
    synced from them once."""
    from tests import org_world

    return org_world.advisories(tmp_path_factory.mktemp("org"))


@pytest.fixture(scope="session")
def org_first_run(
    org_advisories: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRun]:
    """The 200-repository organisation audited once in process, shared by the tests that
    compare with it (the Celery run) or go on from it (the quiet second run)."""
    from tests import org_world

    sources, template = org_advisories
    base = tmp_path_factory.mktemp("org-first")
    server = GitHubServer(GITHUB_TOKEN)
    with server.running():
        repos = org_world.build(server, sources)
        db = base / "org.db"
        shutil.copy(template, db)
        config = org_world.central(base, sources)
        with pytest.MonkeyPatch.context() as patch:
            point_at(patch, server)
            patch.setenv("TRIAGE_PYPI_URL", "http://127.0.0.1:9")
            code, report = org_world.org_audit(config, db)
        expected = {r.full_name: org_world.opened(server, r.full_name) for r in repos}
        yield org_world.FirstRun(
            server, repos, sources, template, config, db, code, report, expected
        )


@pytest.fixture
def org_github(org_first_run: FirstRun, monkeypatch: pytest.MonkeyPatch) -> GitHubServer:
    """The first run's GitHub, with the environment pointing triage at it."""
    point_at(monkeypatch, org_first_run.server)
    return org_first_run.server
