"""Fast-path figures (issue 12), each side by side in one run with alternating repetitions:

- `uv audit` (uv from the dev lock) and `triage scan` on InvokeAI's and the fastapi
  template's uv.lock, both answering from ../shared/data/pypa-advisory-db: uv through the
  loopback OSV stand-in (`/v1/querybatch`, `/v1/vulns/{id}`) and a loopback index for its
  PEP 792 status checks, triage from its database;
- pip-audit and triage on a 600-package requirements file (pip-audit on the stand-in), and
  on 600 packages each pinned at a version an advisory lists (a finding on every one);
- `triage --help`; a no-op `db sync`; the first (cold) scan of a new lockfile against a warm
  one; a 2,000-package file against a 100-package one.

    .venv/bin/python benchmarks/bench_fast_path.py [--runs N] [--only SECTION ...]

Prints min / median and ratios; asserts nothing. Both tools read the same copy of each lock:
its registry URLs point at the loopback index, since uv asks the index of every package and
this machine reaches no index but PyPI's mirror through pip.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import (
    ADVISORIES,
    BIN,
    DATA,
    TRIAGE,
    pip_audit_command,
    real_pins,
    synced_database,
    write_requirements,
)
from benchmarks.osv_server import load_index, serve
from triage.core.matching import parse_version

UV_PROJECTS = [
    ("InvokeAI", "invoke-ai", "invoke-ai__InvokeAI__uv.lock"),
    (
        "fastapi template",
        "fastapi-template-backend",
        "fastapi__full-stack-fastapi-template__backend__uv.lock",
    ),
]
REGISTRIES = ("https://pypi.org/simple", "https://download.pytorch.org/whl/")


Command = Sequence[str] | Callable[[], Sequence[str]]


def alternate(
    commands: dict[str, Command],
    runs: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, list[float]]:
    """Wall times of each command, run in turn `runs` times after one untimed run each."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            argv = command() if callable(command) else command
            start = time.perf_counter()
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
            elapsed = time.perf_counter() - start
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-1500:]!r}")
            if round_:
                times[name].append(elapsed)
    return times


def show(label: str, times: dict[str, list[float]], baseline: str | None = None) -> None:
    print(label)
    for name, samples in times.items():
        line = (
            f"  {name:<28} min {min(samples) * 1000:7.1f} ms   "
            f"median {statistics.median(samples) * 1000:7.1f} ms"
        )
        if baseline and name != baseline:
            ratio = statistics.median(samples) / statistics.median(times[baseline])
            low = min(samples) / min(times[baseline])
            line += f"   {ratio:.2f}x {baseline}'s median ({low:.2f}x min)"
        print(line)


def uv_projects(scratch: Path, index_url: str, db: Path, runs: int) -> None:
    uv = str(BIN / "uv")
    env = {**os.environ, "UV_CACHE_DIR": str(scratch / "uv-cache"), "UV_HTTP_RETRIES": "0"}
    service = index_url.removesuffix("/simple")
    for label, folder, lockfile in UV_PROJECTS:
        project = scratch / folder
        project.mkdir()
        for name, source in (
            ("pyproject.toml", DATA / "uv-projects" / folder / "pyproject.toml"),
            ("uv.lock", DATA / "lockfiles" / lockfile),
        ):
            text = source.read_text()
            for registry in REGISTRIES:
                text = text.replace(registry, index_url + ("/" if registry.endswith("/") else ""))
            (project / name).write_text(text)
        commands: dict[str, Command] = {
            "uv audit": [
                uv,
                "audit",
                "--frozen",
                "--preview-features",
                "audit-command",
                "--service-url",
                service,
            ],
            "triage scan": [TRIAGE, "scan", "--db", str(db), "-q"],
        }
        times = alternate(commands, runs, cwd=project, env=env)
        packages = (project / "uv.lock").read_text().count("[[package]]")
        show(f"{label} uv.lock ({packages} packages), warm:", times, baseline="uv audit")


def pip_audit(scratch: Path, url: str, db: Path, runs: int) -> None:
    medium = scratch / "requirements-600.txt"
    write_requirements(medium, real_pins(600, one_per_name=True))
    cache = scratch / "pip-audit-cache"
    commands: dict[str, Command] = {
        "pip-audit": pip_audit_command(medium, url, cache),
        "triage scan": [TRIAGE, "scan", str(scratch), "--lockfile", str(medium), "--db", str(db)],
    }
    times = alternate(commands, max(runs // 4, 3))
    show("600 pinned packages (requirements file):", times, baseline="triage scan")


def vulnerable_pins(db: Path, count: int) -> list[tuple[str, str]]:
    """`count` packages, each pinned at a version an advisory lists (a finding on each)."""
    chosen: dict[str, str] = {}
    for name, version in sorted(advisory_pins(db)):
        if name not in chosen and parse_version(version) is not None:
            chosen[name] = version
    return sorted(chosen.items())[:count]


def pip_audit_all_vulnerable(scratch: Path, url: str, db: Path, runs: int) -> None:
    pins = vulnerable_pins(db, 600)
    vulnerable = scratch / "requirements-vulnerable.txt"
    write_requirements(vulnerable, pins)
    cache = scratch / "pip-audit-cache-vulnerable"
    commands: dict[str, Command] = {
        "pip-audit": pip_audit_command(vulnerable, url, cache),
        "triage scan": [
            TRIAGE,
            "scan",
            str(scratch),
            "--lockfile",
            str(vulnerable),
            "--db",
            str(db),
        ],
    }
    times = alternate(commands, max(runs // 4, 3))
    show(f"{len(pins)} pinned packages, every one vulnerable:", times, baseline="triage scan")


def start_up_and_sync(scratch: Path, db: Path, runs: int) -> None:
    sync = [TRIAGE, "db", "sync", "--source", str(ADVISORIES), "--db", str(db), "-q"]
    times = alternate({"triage --help": [TRIAGE, "--help"], "no-op db sync": sync}, runs)
    show("start-up and a sync with nothing to do:", times)


def cold_and_warm(scratch: Path, db: Path, runs: int) -> None:
    project = scratch / "cold"
    project.mkdir()
    lock = DATA / "lockfiles" / "invoke-ai__InvokeAI__uv.lock"
    text = lock.read_text()
    counter = iter(range(1_000_000))

    def fresh() -> list[str]:
        """A lockfile no scan has read: the same packages, one comment line apart."""
        (project / "cold" / "uv.lock").write_text(f"{text}# {next(counter)}\n")
        return [TRIAGE, "scan", str(project / "cold"), "--db", str(db), "-q"]

    (project / "cold").mkdir()
    (project / "warm").mkdir()
    shutil.copy(lock, project / "warm" / "uv.lock")
    commands: dict[str, Command] = {
        "warm scan": [TRIAGE, "scan", str(project / "warm"), "--db", str(db), "-q"],
        "cold scan": fresh,
    }
    show(
        "InvokeAI's uv.lock, first scan of new content vs warm:",
        alternate(commands, runs),
        "warm scan",
    )

    small, large = scratch / "r100.txt", scratch / "r2000.txt"
    pins = real_pins(2000, one_per_name=False)
    # The real lockfiles hold about 1,600 distinct pins; versions the advisory data lists for
    # other packages make up the rest.
    extra = sorted(advisory_pins(db) - set(pins))
    pins = sorted(pins + extra[: 2000 - len(pins)])
    write_requirements(small, pins[:100])
    write_requirements(large, pins)
    commands = {
        "100 packages": [TRIAGE, "scan", str(scratch), "--lockfile", str(small), "--db", str(db)],
        f"{len(pins)} packages": [
            TRIAGE,
            "scan",
            str(scratch),
            "--lockfile",
            str(large),
            "--db",
            str(db),
        ],
    }
    show("requirements files, warm:", alternate(commands, runs), "100 packages")


def advisory_pins(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "select f.package, v.value from affected f, json_each(f.versions) v"
        ).fetchall()
    return {(name, version) for name, version in rows}


SECTIONS = ("uv", "pip-audit", "vulnerable", "start-up", "cold")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=SECTIONS, action="append", help="these sections only")
    options = parser.parse_args()
    runs, chosen = options.runs, set(options.only or SECTIONS)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-fast-"))
    server = None
    try:
        db = synced_database(scratch / "t.db")
        server, url = serve(load_index(ADVISORIES))
        base = url.removesuffix("/v1/query")
        if "uv" in chosen:
            uv_projects(scratch, f"{base}/simple", db, runs)
        if "pip-audit" in chosen:
            pip_audit(scratch, url, db, runs)
        if "vulnerable" in chosen:
            pip_audit_all_vulnerable(scratch, url, db, runs)
        if "start-up" in chosen:
            start_up_and_sync(scratch, db, runs)
        if "cold" in chosen:
            cold_and_warm(scratch, db, runs)
    finally:
        if server is not None:
            server.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
