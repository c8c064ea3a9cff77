"""The PR gate in CI, end to end (issue 23): from a runner with only Python to a verdict on a
pull request, triage as action.yml installs it (scripts/action-setup.sh) against `uv audit`,
each getting uv the same way (pip --target from PyPI, hash-pinned by requirements-uv.txt),
alternating, every phase timed and printed. Package caches (pip's, uv's) are warm, as an
Actions cache leaves them; triage runs with its advisory database restored from a cache
(checked with `db verify`, then synced incrementally), without it (a full sync), and with
its venv restored from a cache too.

The repository is the fastapi template's backend with its uv.lock on `main`, and a pull
request moving four packages to versions with advisories. Both tools answer from
../shared/data/pypa-advisory-db: uv through the loopback OSV stand-in (and a loopback
index for its status checks), triage from its database synced from the same folder.

    .venv/bin/python benchmarks/bench_ci.py [--runs N]

Prints min / median per phase and the ratios; asserts nothing. BENCH_SHOW=1 also prints
each command's output.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_fast_path import REGISTRIES
from benchmarks.bench_foundation import ADVISORIES, DATA, REPOSITORY, synced_database
from benchmarks.osv_server import load_index, serve

PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")  # the runner's Python, not a venv's
LOCK = DATA / "lockfiles" / "fastapi__full-stack-fastapi-template__backend__uv.lock"
PYPROJECT = DATA / "uv-projects" / "fastapi-template-backend" / "pyproject.toml"
SETUP = REPOSITORY / "scripts" / "action-setup.sh"
Phases = dict[str, float]


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        capture_output=True,
    )


def vulnerable_moves(lock: str, db: Path, count: int) -> dict[str, tuple[str, str]]:
    """`count` locked packages and a version of each that an advisory affects."""
    locked = dict(re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', lock))
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "select f.package, v.value from affected f, json_each(f.versions) v"
        ).fetchall()
    moves: dict[str, tuple[str, str]] = {}
    for name, version in sorted(rows):
        if name in locked and name not in moves and version != locked[name]:
            moves[name] = (locked[name], version)
        if len(moves) == count:
            break
    return moves


def repository(scratch: Path, index_url: str, db: Path) -> Path:
    """The project: main with the lock, a pull request branch bringing four advisories."""
    root = scratch / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    text = LOCK.read_text()
    for registry in REGISTRIES:
        text = text.replace(registry, index_url + ("/" if registry.endswith("/") else ""))
    (root / "uv.lock").write_text(text)
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    (root / "deny.toml").write_text(
        f'[advisories]\nsources = ["{ADVISORIES}"]\nstale-db = "allow"\n'
    )
    (root / ".gitignore").write_text(".triage/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    for name, (old, new) in vulnerable_moves(text, db, 4).items():
        start = text.index(f'[[package]]\nname = "{name}"\nversion = "{old}"')
        end = text.find("[[package]]", start + 1)
        block = text[start:end]  # the entry and its files' names and URLs move together
        text = text[:start] + block.replace(old, new) + text[end:]
    (root / "uv.lock").write_text(text)
    git(root, "commit", "-q", "-am", "bump four packages")
    return root


def run(phases: Phases, label: str, argv: list[str], **kwargs: object) -> None:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    phases[label] = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{label} failed ({done.returncode}): {done.stderr[-1500:]}")
    if os.environ.get("BENCH_SHOW"):
        print(f"--- {label} ({done.returncode}):\n{done.stdout[-800:]}{done.stderr[-800:]}")


def get_uv(phases: Phases, where: Path) -> str:
    shutil.rmtree(where, ignore_errors=True)
    run(
        phases,
        "get uv (pip --target)",
        [
            PYTHON,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--require-hashes",
            "--target",
            str(where),
            "-r",
            str(REPOSITORY / "requirements-uv.txt"),
        ],
    )
    return str(where / "bin" / "uv")


def uv_audit(scratch: Path, root: Path, service: str) -> Phases:
    phases: Phases = {}
    uv = get_uv(phases, scratch / "uv-tools")
    env = {**os.environ, "UV_HTTP_RETRIES": "0"}
    run(
        phases,
        "uv audit",
        [uv, "audit", "--frozen", "--preview-features", "audit-command", "--service-url", service],
        cwd=root,
        env=env,
    )
    return phases


def triage(
    scratch: Path, root: Path, env: dict[str, str], *, cached_db: Path | None, keep_venv: bool
) -> Phases:
    phases: Phases = {}
    venv = scratch / "triage-venv"
    if not keep_venv:
        shutil.rmtree(venv, ignore_errors=True)
    run(phases, "install (action-setup.sh)", ["bash", str(SETUP), "install", str(venv)], env=env)
    bin_ = venv / "bin" / "triage"
    data = root / ".triage"
    shutil.rmtree(data, ignore_errors=True)
    if cached_db is not None:
        data.mkdir()
        start = time.perf_counter()
        shutil.copy(cached_db, data / "triage.db")
        phases["restore the database"] = time.perf_counter() - start
        run(phases, "db verify", [str(bin_), "db", "verify", "-q"], cwd=root, env=env)
    run(phases, "db sync", [str(bin_), "db", "sync", "-q"], cwd=root, env=env)
    run(
        phases,
        "diff (the verdict)",
        [str(bin_), "diff", "--base", "main", "--head", "feature", "-q"],
        cwd=root,
        env=env,
    )
    return phases


def show(title: str, samples: list[Phases], baseline: float | None) -> float:
    totals = [sum(p.values()) for p in samples]
    median = statistics.median(totals)
    ratio = f"   {median / baseline:.2f}x uv audit" if baseline else ""
    print(f"{title}: median {median:.2f} s, min {min(totals):.2f} s{ratio}")
    for phase in samples[0]:
        values = [p[phase] for p in samples]
        print(f"    {phase:<28} median {statistics.median(values):6.2f} s")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = max(parser.parse_args().runs, 1)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; runner Python {PYTHON}"
    )
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-ci-"))
    server = None
    try:
        cache = synced_database(scratch / "cache.db")  # what the Actions cache would restore
        server, url = serve(load_index(ADVISORIES))
        base = url.removesuffix("/v1/query")
        root = repository(scratch, f"{base}/simple", cache)
        env = {
            **os.environ,
            "TRIAGE_PYPI_URL": base,
            "TRIAGE_LOOPBACK_HTTP": "1",
            "CI": "true",
        }
        env.pop("GITHUB_TOKEN", None)
        kinds: dict[str, Callable[[], Phases]] = {
            "uv audit": lambda: uv_audit(scratch, root, base),
            "triage, database cached": lambda: triage(
                scratch, root, env, cached_db=cache, keep_venv=False
            ),
            "triage, no database cache": lambda: triage(
                scratch, root, env, cached_db=None, keep_venv=False
            ),
            "triage, venv and database cached": lambda: triage(
                scratch, root, env, cached_db=cache, keep_venv=True
            ),
        }
        samples: dict[str, list[Phases]] = {name: [] for name in kinds}
        for round_ in range(runs + 1):  # the first round warms the package caches, untimed
            for name, measure in kinds.items():
                phases = measure()
                if round_:
                    samples[name].append(phases)
        uv_median = show("uv audit", samples["uv audit"], None)
        for name in list(kinds)[1:]:
            show(name, samples[name], uv_median)
    finally:
        if server is not None:
            server.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
