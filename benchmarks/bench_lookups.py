"""Package index lookups (issue 23): what the first `triage diff` of a pull request adding
InvokeAI's uv.lock costs with provenance looked up on a loopback index (each project's PEP 691
page naming a provenance URL or none for every file, ten files with provenance to verify),
against no lookups at all (--offline), an index refusing connections, and one that accepts
them and never answers (TRIAGE_INDEX_TIMEOUT at its default of 5 s). Then an organisation
audit of 8 repositories on the loopback GitHub of tests/ against that silent index.

Every run starts from a database without cached provenance (a first diff).

    .venv/bin/python benchmarks/bench_lookups.py [--runs N]

Prints min / median wall times; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import ADVISORIES, DATA, TRIAGE, synced_database
from tests import org_world
from tests.conftest import GITHUB_TOKEN
from tests.github_git import Repo
from tests.github_server import GitHubServer
from tests.http_stub import IndexListing, refusing_url, serve_index, silent_server
from triage.lockfiles import read_lockfile

LOCK = DATA / "lockfiles" / "invoke-ai__InvokeAI__uv.lock"
PROVENANCE = DATA / "pep740" / "pypi_attestations-0.0.19.tar.gz.provenance"


def listing(lock: Path) -> tuple[IndexListing, int]:
    """Each locked project's files as the index lists them; ten carry provenance."""
    projects: IndexListing = {}
    body = PROVENANCE.read_bytes()
    files = 0
    for package in read_lockfile(lock, lock.parent).packages:
        for artifact in package.artifacts:
            if artifact.sha256:
                attested = body if files < 10 else None
                projects.setdefault(package.name, []).append(
                    (artifact.filename, artifact.sha256, attested)
                )
                files += 1
    return projects, files


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        capture_output=True,
    )


def pull_request(scratch: Path) -> Path:
    root = scratch / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "deny.toml").write_text(
        f'[advisories]\nsources = ["{ADVISORIES}"]\nstale-db = "allow"\n'
        '[trust]\nmode = "basic"\nunsigned = "warn"\n'
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    shutil.copy(LOCK, root / "uv.lock")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add InvokeAI's lock")
    return root


@contextlib.contextmanager
def index(kind: str, projects: IndexListing) -> Iterator[str]:
    if kind == "refusing":
        yield refusing_url()
    elif kind == "silent":
        with silent_server() as (url, _):
            yield url
    else:
        with serve_index(projects) as (url, _):
            yield url


def first_diff(root: Path, template: Path, url: str, *, offline: bool) -> float:
    db = root.parent / "diff.db"
    shutil.copy(template, db)
    env = {**os.environ, "TRIAGE_PYPI_URL": url, "TRIAGE_LOOPBACK_HTTP": "1"}
    argv = [TRIAGE, "diff", "--base", "main", "--head", "feature", "--db", str(db), "-q"]
    start = time.perf_counter()
    done = subprocess.run(
        [*argv, *(["--offline"] if offline else [])],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"diff failed ({done.returncode}): {done.stderr[-1500:]}")
    return elapsed


def show(label: str, samples: list[float], baseline: list[float] | None = None) -> None:
    extra = ""
    if baseline is not None:
        extra = f"   +{statistics.median(samples) - statistics.median(baseline):.2f} s"
    median = statistics.median(samples)
    print(f"  {label:<34} min {min(samples):6.2f} s   median {median:6.2f} s{extra}")


def org_audit(scratch: Path, url: str, *, offline: bool) -> float:
    """`triage org audit` of 8 repositories, each locking files of projects of its own."""
    server = GitHubServer(GITHUB_TOKEN)
    sources, template = org_world.advisories(scratch / f"org-{time.monotonic_ns()}")
    config = org_world.central(scratch, sources, '[trust]\nmode = "basic"\n')
    with server.running():
        for n in range(8):
            lock = (
                'lock-version = "1.0"\ncreated-by = "bench"\n[[packages]]\n'
                f'name = "project-{n}"\nversion = "1.0"\nsdist = {{ name = '
                f'"project_{n}-1.0.tar.gz", url = "https://files.example/p{n}.tar.gz", '
                f'hashes = {{ sha256 = "{n:064x}" }} }}\n'
            )
            server.git.add_repo(
                Repo(f"{org_world.ORG}/locked-{n}", files={"pylock.toml": lock.encode()})
            )
        env = {
            **os.environ,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": server.url,
            "TRIAGE_GITHUB_PACE": "0",
            "TRIAGE_PYPI_URL": url,
            "TRIAGE_LOOPBACK_HTTP": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        db = scratch / "org.db"
        shutil.copy(template, db)
        argv = [sys.executable, "-m", "triage", "org", "audit", "--org", org_world.ORG]
        argv += ["--db", str(db), "--config", str(config), "--format", "json"]
        start = time.perf_counter()
        done = subprocess.run(
            [*argv, *(["--offline"] if offline else [])],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
    if json.loads(done.stdout)["audited"] != 8:
        raise SystemExit(f"org audit: {done.stdout[-800:]} {done.stderr[-800:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = max(parser.parse_args().runs, 1)
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-lookups-"))
    try:
        template = synced_database(scratch / "template.db")
        root = pull_request(scratch)
        projects, files = listing(LOCK)
        print(
            f"first diff adding InvokeAI's uv.lock ({len(projects)} projects, {files} files), "
            f"{runs} runs each:"
        )
        samples: dict[str, list[float]] = {}
        for kind in ("no lookups (--offline)", "loopback index", "refusing", "silent"):
            with index(kind, projects) as url:
                first_diff(root, template, url, offline=kind.startswith("no"))  # warm-up
                samples[kind] = [
                    first_diff(root, template, url, offline=kind.startswith("no"))
                    for _ in range(runs)
                ]
        baseline = samples["no lookups (--offline)"]
        for kind, values in samples.items():
            show(kind, values, None if values is baseline else baseline)
        print("organisation audit of 8 repositories:")
        quiet = [org_audit(scratch, "http://127.0.0.1:9", offline=True) for _ in range(runs)]
        with silent_server() as (url, _):
            silent = [org_audit(scratch, url, offline=False) for _ in range(runs)]
        show("no lookups (--offline)", quiet)
        show("silent index (5 s timeout)", silent, quiet)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
