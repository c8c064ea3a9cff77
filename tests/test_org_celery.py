"""`triage org audit --engine celery`: a real redis-server and two real Celery workers
(`celery -A triage.jobs.org worker`) give the issues the in-process engine gives; a worker
process killed with SIGKILL mid-task has its task redone with no duplicate issue; an
unreachable broker is exit 4, named."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import org_world
from tests.conftest import GITHUB_TOKEN, REPOSITORY
from tests.github_server import GitHubServer
from tests.test_org import ORG, central, opened, org_audit, world  # noqa: F401 (fixture)

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="./dev test installs redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    assert REDIS is not None
    server = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def start_workers(
    url: str, db: Path, github: GitHubServer, count: int
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),  # this checkout's triage, not an installed one
        "TRIAGE_BROKER_URL": url,
        "TRIAGE_DB": str(db),
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": github.url,
        "TRIAGE_GITHUB_PACE": "0",
        "TRIAGE_PYPI_URL": "http://127.0.0.1:9",
    }
    celery = Path(sys.executable).parent / "celery"
    return [
        subprocess.Popen(
            [
                str(celery),
                "-A",
                "triage.jobs.org",
                "worker",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "-n",
                f"w{n}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "ERROR",
            ],
            env=env,
            cwd=db.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def test_celery_workers_give_the_in_process_issues_even_with_a_worker_killed(
    github: GitHubServer,
    world: tuple[Path, Path],  # noqa: F811
    broker: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources, template = world
    repos = org_world.build(github, sources)
    config = central(tmp_path, sources)
    local_db = tmp_path / "local" / "org.db"
    local_db.parent.mkdir()
    shutil.copy(template, local_db)
    org_audit(capsys, config, local_db)
    expected = {r.full_name: opened(github, r.full_name) for r in repos}
    assert sum(len(v) for v in expected.values()) > 100
    for repo in repos:  # a fresh GitHub for the Celery run
        github.state.issues.pop(repo.full_name, None)
        github.state.labels.pop(repo.full_name, None)

    db = tmp_path / "celery" / "org.db"
    db.parent.mkdir()
    shutil.copy(template, db)
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

        asked_before = github.state.requests.count(("GET", victim))
        killer = threading.Thread(target=kill_when_held)
        killer.start()
        code, report = org_audit(capsys, config, db, "--engine", "celery")
        killer.join()
        assert arrived.is_set(), "the held request never came"
        assert code == 2 and report["audited"] == 196
        assert {r.full_name: opened(github, r.full_name) for r in repos} == expected
        # The killed task was redone: the held tree was asked for twice.
        assert github.state.requests.count(("GET", victim)) - asked_before == 2
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)


def test_an_unreachable_broker_is_exit_4_naming_it(
    github: GitHubServer,
    world: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from triage.cli import main

    sources, template = world
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
