"""Shared fixtures. Real data lives read-only in ../shared/data and is cited by path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import triage.github
from tests.github_server import GitHubServer
from triage.service import Workspace, sync

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
ADVISORY_DB = SHARED_DATA / "pypa-advisory-db"
ADVISORY_DB_OLD = SHARED_DATA / "pypa-advisory-db-2024-02-28"
LOCKFILES = SHARED_DATA / "lockfiles"
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
GITHUB_TOKEN = "ghp_test_token_do_not_print"


def workspace(db: Path, now: dt.datetime = NOW, root: Path = Path("."), **given: Any) -> Workspace:
    """A workspace on `db` whose clock stands at `now`, as a command would build it."""
    return Workspace(root=root, db_path=db, clock=lambda: now, **given)


@pytest.fixture(autouse=True)
def no_pypi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the network: PyPI's Integrity API is a closed loopback port."""
    monkeypatch.setenv("TRIAGE_PYPI_URL", "http://127.0.0.1:9")


@pytest.fixture(scope="session")
def synced_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The full PyPA advisory database synced once; tests must not change its advisories."""
    path = tmp_path_factory.mktemp("db") / "triage.db"
    sync.sync(workspace(path), [str(ADVISORY_DB)], require_all=True)
    yield path


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubServer]:
    """A loopback GitHub, with the environment pointing triage at it and no pacing."""
    server = GitHubServer(GITHUB_TOKEN)
    # Waits (Retry-After, backoff) are recorded, not slept.
    monkeypatch.setattr(triage.github, "pause", server.waits.append)
    with server.running():
        monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("TRIAGE_GITHUB_BACKOFF", "0.01")
        monkeypatch.setenv("TRIAGE_GITHUB_PACE", "0")
        yield server
