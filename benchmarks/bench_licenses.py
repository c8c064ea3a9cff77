"""License check figures (issue 14): `triage licenses check` of a 300-package lockfile, first
against a loopback PyPI (every release fetched, 8 at a time), then warm (every release in the
database's cache; target < 0.5 s).

    .venv/bin/python benchmarks/bench_licenses.py

Prints figures; asserts nothing. Pins come from ../shared/data/lockfiles; each release is
answered with the license metadata of one of tests/fixtures/pypi-licenses (real releases'),
chosen by the name, since the benchmark measures the check, not the licenses.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import TRIAGE, real_pins, write_requirements
from tests.http_stub import serve_get

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pypi-licenses"
METADATA = [json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]


def answer(path: str) -> tuple[int, bytes]:
    found = re.fullmatch(r"/pypi/([^/]+)/([^/]+)/json", path)
    if not found:
        return 404, b"{}"
    pick = int(hashlib.sha256(found[1].encode()).hexdigest(), 16) % len(METADATA)
    return 200, json.dumps(METADATA[pick]).encode()


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-licenses-"))
    try:
        lock = scratch / "requirements.txt"
        write_requirements(lock, real_pins(300, one_per_name=True))
        policy = scratch / "deny.toml"
        policy.write_text('[licenses]\nallow = ["MIT", "BSD-3-Clause", "Apache-2.0", "ISC"]\n')
        command = [
            TRIAGE,
            "licenses",
            "check",
            str(scratch),
            "--lockfile",
            str(lock),
            "--db",
            str(scratch / "t.db"),
            "--config",
            str(policy),
            "--format",
            "json",
        ]
        with serve_get(answer) as (url, asked):
            env = {**os.environ, "TRIAGE_PYPI_URL": url, "TRIAGE_LOOPBACK_HTTP": "1"}
            start = time.perf_counter()
            first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            cold = time.perf_counter() - start
            fetched = len(asked)
            samples = []
            for _ in range(7):
                start = time.perf_counter()
                subprocess.run(command, env=env, capture_output=True, check=False)
                samples.append(time.perf_counter() - start)
            refetched = len(asked) - fetched
        packages = len(json.loads(first.stdout)["packages"])
        print(f"first check, {packages} packages, {fetched} releases fetched: {cold:.2f} s")
        print(
            f"warm check (all cached, {refetched} requests): min {min(samples):.3f} s, "
            f"median {statistics.median(samples):.3f} s (target < 0.5 s)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
