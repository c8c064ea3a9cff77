"""Organisation audit figures (issue 15): requests per day projected to 10,000 repositories
against one token's 5,000 an hour, and wall time with 1, 2 and 4 Celery workers, on the
loopback GitHub of tests/ (no network latency) with the organisation of tests/org_world.py.

    .venv/bin/python benchmarks/bench_org.py [REPOSITORIES]

Needs redis-server (./dev test installs it). Asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import org_world
from tests.conftest import GITHUB_TOKEN
from tests.github_server import GitHubServer
from tests.org_world import start_redis, start_workers

PROJECTED = 10_000
HOURLY = 5_000


def run(config: Path, db: Path, server: GitHubServer, *more: str) -> tuple[float, dict[str, int]]:
    env = dict(
        os.environ,
        GITHUB_TOKEN=GITHUB_TOKEN,
        GITHUB_API_URL=server.url,
        TRIAGE_GITHUB_PACE="0",
        TRIAGE_PYPI_URL="http://127.0.0.1:9",
        TRIAGE_LOOPBACK_HTTP="1",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    charged, free = server.budget.charged, server.budget.not_charged
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage",
            "org",
            "audit",
            "--org",
            org_world.ORG,
            "--db",
            str(db),
            "--config",
            str(config),
            "--format",
            "json",
            *more,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    report = json.loads(done.stdout)
    return elapsed, {
        "charged": server.budget.charged - charged,
        "not charged": server.budget.not_charged - free,
        "audited": report["audited"],
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-org-"))
    server = GitHubServer(GITHUB_TOKEN)
    redis = None
    try:
        sources, template = org_world.advisories(scratch)
        config = org_world.central(scratch, sources)
        with server.running():
            repos = org_world.build(server, sources, count)
            db = scratch / "org.db"
            shutil.copy(template, db)
            first, first_n = run(config, db, server)
            quiet, quiet_n = run(config, db, server)
            changed = [r for r in repos if any(p.endswith(".lock") for p in r.files)]
            moved = changed[: max(1, count // 20)]
            for repo in moved:
                for path in list(repo.files):
                    if path.endswith(".lock"):
                        repo.files[path] += b"\n"
            busy, busy_n = run(config, db, server)
            print(f"{count} repositories on the loopback GitHub (in-process engine)")
            print(f"  first run   {first:6.1f} s  {first_n}")
            print(f"  quiet day   {quiet:6.1f} s  {quiet_n}")
            print(f"  {len(moved)} changed   {busy:6.1f} s  {busy_n}")
            scale = PROJECTED / count
            for label, figures in (("quiet day", quiet_n), ("5% changed", busy_n)):
                per_day = figures["charged"] * scale
                print(
                    f"  10,000 repositories, {label}: {per_day:,.0f} charged requests "
                    f"({per_day / HOURLY:.2f} h of one token's {HOURLY:,}/h), "
                    f"{figures['not charged'] * scale:,.0f} free 304s"
                )
            redis_server = shutil.which("redis-server")
            if redis_server is None:
                print("  (no redis-server: worker timings skipped)")
                return
            redis, url = start_redis(redis_server, scratch)
            os.environ["TRIAGE_BROKER_URL"] = url
            for workers in (1, 2, 4):
                db = scratch / f"celery-{workers}.db"
                shutil.copy(template, db)
                for repo in repos:
                    server.state.issues.pop(repo.full_name, None)
                started = start_workers(url, db, server, workers)
                try:
                    elapsed, figures = run(config, db, server, "--engine", "celery")
                finally:
                    for worker in started:
                        worker.send_signal(signal.SIGTERM)
                    for worker in started:
                        worker.wait(30)
                print(f"  first run, {workers} Celery worker(s): {elapsed:6.1f} s  {figures}")
    finally:
        if redis is not None:
            redis.terminate()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
