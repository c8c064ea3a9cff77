"""`triage org audit --engine celery`: a real redis-server and two real Celery workers
(`celery -A triage.jobs.org worker`) give the issues the in-process engine gives; a worker
process killed with SIGKILL mid-task has its task redone with no duplicate issue; a
secondary limit met mid-run, by the workers or the coordinator's issue writes, is refused only
for what was in flight, the pause kept where every worker looks; an unreachable broker
is exit 4, named."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests import org_world
from tests.conftest import GITHUB_TOKEN
from tests.github_server import GitHubServer
from tests.org_world import (
    ORG,
    central,
    free_port,
    opened,
    org_audit,
    start_redis,
    start_workers,
)

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="./dev test installs redis-server")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    assert REDIS is not None
    server, url = start_redis(REDIS, tmp_path)
    yield url
    server.terminate()
    server.wait(10)


def test_celery_workers_give_the_in_process_issues_even_with_a_worker_killed(
    org_first_run: org_world.FirstRun,
    github: GitHubServer,
    broker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same organisation on a GitHub of its own, audited by two workers, gets the issues
    the in-process run (org_first_run) opened."""
    first = org_first_run
    repos = org_world.build(github, first.sources)
    db = tmp_path / "org.db"
    shutil.copy(first.template, db)
    monkeypatch.setenv("TRIAGE_BROKER_URL", broker)
    workers = start_workers(broker, db, github, 2)
    try:
        # Hold one repository's tree request; kill the worker process that sent it.
        victim = f"/repos/{ORG}/service-042/git/trees/main"
        arrived, release = threading.Event(), threading.Event()
        github.hold = (victim, arrived, release)

        def kill_when_held() -> None:
            if arrived.wait(60):
                pid = int(github.held_by.rsplit("pid ", 1)[1].rstrip(")"))
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.2)
                release.set()

        killer = threading.Thread(target=kill_when_held)
        killer.start()
        # And GitHub's secondary limit trips early in the run, and again at the coordinator's
        # first issue write: each time it refuses everything for 1 s.
        github.budget.trip_secondary_after(30, 1.0)
        github.budget.trip_secondary_on("POST", 1.0)
        started = time.time()
        code, report = org_audit(first.config, db, "--engine", "celery")
        killer.join()
        assert arrived.is_set(), "the held request never came"
        assert code == first.code == 2 and report["audited"] == 196
        assert report["actions"] == first.report["actions"]
        assert {r.full_name: opened(github, r.full_name) for r in repos} == first.expected
        # The killed task was redone: the held tree was asked for twice.
        assert github.state.requests.count(("GET", victim)) == 2
        # Refused: only what was in flight when the limit tripped (one request per worker,
        # then the one write); the pause, kept in Redis, held everyone back until it passed.
        assert 2 <= github.budget.refused <= 3
        assert report["refused"] == github.budget.refused
        # The writer's refusal was recorded where the workers look: the token's one budget.
        shared = redis.Redis.from_url(broker)
        (pause,) = shared.keys("triage:budget:*:pause")
        assert float(shared.get(pause) or 0) > started + 1.0
        assert GITHUB_TOKEN.encode() not in pause
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)


def test_no_worker_or_a_task_past_the_timeout_is_said_not_waited_on(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    broker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources, template = org_advisories
    repos = org_world.build(github, sources, count=9)  # 5 to read, the last has no lockfile
    config = central(tmp_path, sources)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    monkeypatch.setenv("TRIAGE_BROKER_URL", broker)
    monkeypatch.setenv("TRIAGE_WORKER_WAIT", "1")
    code, report = org_audit(config, db, "--engine", "celery", expect_report=False)
    assert code == 4 and report["message"].startswith(
        f"no Celery worker answers on the broker at {broker} (waited 1 s)"
    )
    assert all(github.issues(r.full_name) == [] for r in repos)

    # One repository's tree request hangs past TRIAGE_ORG_TIMEOUT: that repository is not
    # audited (exit 4), the others are, and the run ends.
    monkeypatch.setenv("TRIAGE_WORKER_WAIT", "30")
    monkeypatch.setenv("TRIAGE_ORG_TIMEOUT", "4")
    arrived, release = threading.Event(), threading.Event()
    github.hold = (f"/repos/{ORG}/service-001/git/trees/main", arrived, release)
    workers = start_workers(broker, db, github, 2)
    try:
        code, report = org_audit(config, db, "--engine", "celery")
    finally:
        release.set()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
    assert arrived.is_set() and code == 4
    assert "not finished within TRIAGE_ORG_TIMEOUT=4 s" in report["errors"][f"{ORG}/service-001"]
    assert report["exit_codes"][f"{ORG}/service-001"] == 4 and report["audited"] == 4
    assert github.issues(f"{ORG}/service-001") == []
    assert sum(len(github.issues(r.full_name)) for r in repos) == report["actions"]["opened"] > 0


def test_an_unreachable_broker_is_exit_4_naming_it(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from triage.cli import main

    sources, template = org_advisories
    org_world.build(github, sources, count=3)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    port = free_port()
    monkeypatch.setenv("TRIAGE_BROKER_URL", f"redis://:s3cret@127.0.0.1:{port}/0")
    code = main(
        [
            "org",
            "audit",
            "--org",
            ORG,
            "--db",
            str(db),
            "--config",
            str(central(tmp_path, sources)),
            "--engine",
            "celery",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 4
    assert f"redis://:***@127.0.0.1:{port}/0 cannot be reached" in err
    assert "s3cret" not in out + err and "Traceback" not in err

    monkeypatch.setenv("TRIAGE_WORKER_WAIT", "soon")
    config = central(tmp_path, sources)
    code, said = org_audit(config, db, "--engine", "celery", expect_report=False)
    assert code == 2 and "TRIAGE_WORKER_WAIT='soon' is not a number of seconds" in said["message"]


def test_a_budget_in_the_broker_that_is_not_a_number_stops_the_run_said(
    github: GitHubServer,
    org_advisories: tuple[Path, Path],
    broker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared budget is state from outside: a pause that is not a number is never taken
    for no pause."""
    sources, template = org_advisories
    org_world.build(github, sources, count=3)
    db = tmp_path / "org.db"
    shutil.copy(template, db)
    monkeypatch.setenv("TRIAGE_BROKER_URL", broker)
    scope = hashlib.sha256(GITHUB_TOKEN.encode()).hexdigest()[:16]
    redis.Redis.from_url(broker).set(f"triage:budget:{scope}:pause", "later")
    config = central(tmp_path, sources)
    code, said = org_audit(config, db, "--engine", "celery", expect_report=False)
    assert code == 4 and "budget kept in the broker" in said["message"]
    assert "holds 'later', not a number" in said["message"]
    assert github.state.requests == []  # nothing was sent on a budget it could not read
