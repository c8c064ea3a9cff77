"""An organisation on the loopback GitHub built from the real lockfiles in
../shared/data/lockfiles, with variations: lockfiles at the root and in subfolders, a policy of
the repository's own in some, forks and archived repositories, one with no lockfile."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ADVISORY_DB, GITHUB_TOKEN, LOCKFILES, NOW, REPOSITORY, workspace
from tests.github_git import Repo
from tests.github_server import GitHubServer
from tests.schemas import validate
from triage.cli import main
from triage.service import sync

ORG = "acme"
# Records of these packages only: every repository has a few findings, not hundreds.
PACKAGES = ["urllib3", "idna", "jinja2"]


def _tree_name(source: Path) -> str:
    name = source.name
    for convention in ("uv.lock", "poetry.lock", "Pipfile.lock"):
        if name.endswith(convention):
            return convention
    if name.endswith(".toml") and "pylock" in name:
        return "pylock.toml"
    return "requirements.txt"


def real_lockfiles() -> list[tuple[str, bytes]]:
    """(tree path, bytes) of each real lockfile; the django folder keeps its -r include."""
    found: list[tuple[str, bytes]] = []
    for source in sorted(LOCKFILES.iterdir()):
        if source.name in ("SOURCES.md",) or source.name.endswith("pyproject.toml"):
            continue
        if source.is_dir():
            found.append(("requirements/prod.txt", (source / "prod.txt").read_bytes()))
            continue
        found.append((_tree_name(source), source.read_bytes()))
    return found


def policy(sources: Path, extra: str = "") -> bytes:
    return (
        f'[advisories]\nsources = ["{sources}"]\nstale-db = "allow"\n{extra}\n'
        '[github]\nlabels = ["security", "dependencies"]\n'
    ).encode()


def build(server: GitHubServer, sources: Path, count: int = 200) -> list[Repo]:
    """`count` repositories of ORG; the last six are a fork, archived ones and one with no
    lockfile."""
    locks = real_lockfiles()
    django = (LOCKFILES / "django__djangoproject.com__requirements" / "common.txt").read_bytes()
    repos = []
    for i in range(count):
        path, data = locks[i % len(locks)]
        repo = Repo(f"{ORG}/service-{i:03d}")
        folder = "backend/" if i % 5 == 1 else ""
        repo.files[f"{folder}{path}"] = data
        if path == "requirements/prod.txt":
            repo.files[f"{folder}requirements/common.txt"] = django
        repo.files["README.md"] = f"service {i}\n".encode()
        if i % 3 == 0:
            repo.files["deny.toml"] = policy(sources)
        if i % 7 == 3:
            repo.files["deny.toml"] = policy(sources, 'severity-threshold = "high"')
        if i >= count - 6:
            repo.fork = i == count - 6
            repo.archived = i in (count - 5, count - 4)
        if i == count - 1:
            repo.files = {"README.md": b"documentation only\n"}
        repos.append(server.git.add_repo(repo))
    return repos


def advisories(base: Path) -> tuple[Path, Path]:
    """The advisory records of PACKAGES under `base`, and a database synced from them."""
    sources = base / "advisories"
    for name in PACKAGES:
        shutil.copytree(ADVISORY_DB / "vulns" / name, sources / "vulns" / name)
    template = base / "template.db"
    sync.sync(workspace(template, NOW), [str(sources)], require_all=True)
    return sources, template


def central(folder: Path, sources: Path, extra: str = "") -> Path:
    """The central deny.toml in `folder`."""
    config = folder / "central" / "deny.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(policy(sources) + extra.encode())
    return config


def org_audit(
    config: Path, db: Path, *more: str, expect_report: bool = True
) -> tuple[int, dict[str, Any]]:
    """`triage org audit --org ORG --format json` in this process: exit code and report (or,
    when the run stops before one, {"message": what it said})."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        where = ["--db", str(db), "--config", str(config)]
        code = main(["org", "audit", "--org", ORG, *where, "--format", "json", *more])
    text, errors = out.getvalue(), err.getvalue()
    assert GITHUB_TOKEN not in text + errors and "Traceback" not in errors, errors
    if not expect_report:
        assert not text, text
        return code, {"message": errors.removeprefix("triage: ").removeprefix("error: ")}
    assert text, errors
    report: dict[str, Any] = json.loads(text)
    validate(report)
    return code, report


Opened = list[tuple[str, str, tuple[str, ...]]]


@dataclass
class FirstRun:
    """An organisation built on a loopback GitHub of its own and audited once in process
    (tests/conftest.py's `org_first_run`): the issues each repository got, as they were."""

    server: GitHubServer
    repos: list[Repo]
    sources: Path
    template: Path  # the advisory database before any audit
    config: Path
    db: Path  # after the run: tests go on from a copy of it (`copy_db`)
    code: int
    report: dict[str, Any]
    expected: dict[str, Opened]

    def copy_db(self, folder: Path) -> Path:
        """The database as the first run left it, copied into `folder`."""
        copy = folder / "org.db"
        shutil.copy(self.db, copy)
        return copy


def opened(server: GitHubServer, repository: str) -> Opened:
    """Title, body and labels of each issue of `repository`, sorted."""
    return sorted(
        (i["title"], i["body"], tuple(sorted(label["name"] for label in i["labels"])))
        for i in server.issues(repository)
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(redis: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free loopback port, answering; and its URL."""
    port = free_port()
    server = subprocess.Popen(
        [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return server, f"redis://127.0.0.1:{port}/0"


def start_workers(
    url: str, db: Path, github: GitHubServer, count: int
) -> list[subprocess.Popen[bytes]]:
    """`count` real `celery -A triage.jobs.org worker` processes (one pool process each) on the
    broker at `url`, judging with the database `db`, reading the loopback `github`."""
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
    options = ["--concurrency", "1", "--pool", "prefork", "--loglevel", "ERROR"]
    quiet = ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return [
        subprocess.Popen(
            [str(celery), "-A", "triage.jobs.org", "worker", "-n", f"w{n}@%h", *options, *quiet],
            env=env,
            cwd=db.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]
