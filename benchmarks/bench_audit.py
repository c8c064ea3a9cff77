"""Daily-audit figures (issue 4): an audit of a 1,000-package repository with nothing changed
since the last run, against the loopback GitHub of tests/ (no network latency).

    .venv/bin/python benchmarks/bench_audit.py

Prints the time, the write calls (expected: none) and the requests that listed the tracking
issues (one paginated listing). Asserts nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import ADVISORIES, TRIAGE, real_pins, write_requirements
from tests.github_server import GitHubServer

TOKEN = "ghp_benchmark"


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-audit-"))
    server = GitHubServer(TOKEN)
    try:
        root = scratch / "app"
        root.mkdir()
        write_requirements(root / "requirements.txt", real_pins(1000, one_per_name=False))
        (root / "deny.toml").write_text(
            f'[advisories]\nsources = ["{ADVISORIES}"]\nstale-db = "allow"\n'
            '[github]\nrepository = "acme/app"\nlabels = ["security", "dependencies"]\n'
        )
        db = scratch / "t.db"
        env = dict(os.environ, GITHUB_TOKEN=TOKEN, TRIAGE_GITHUB_PACE="0", TRIAGE_LOOPBACK_HTTP="1")
        command = [
            TRIAGE,
            "audit",
            str(root),
            "--db",
            str(db),
            "--config",
            str(root / "deny.toml"),
            "-q",
        ]
        with server.running():
            env["GITHUB_API_URL"] = server.url
            subprocess.run(command, env=env, capture_output=True, check=False)
            opened = len(server.issues("acme/app"))
            before = len(server.state.requests)
            start = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=False)
            elapsed = time.perf_counter() - start
            second = server.state.requests[before:]
        writes = [r for r in second if r[0] != "GET"]
        listing = [r for r in second if r == ("GET", "/repos/acme/app/issues")]
        print(f"first audit opened {opened} tracking issues")
        print(
            f"second audit, nothing changed: {elapsed:.2f} s (target < 2 s), "
            f"{len(writes)} write calls (target 0), {len(second)} requests, of which "
            f"{len(listing)} page(s) of the one tracking-issue listing"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
