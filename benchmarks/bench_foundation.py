"""Foundation figures (issue 2): sync, no-op re-sync, scan of 1,000 packages, --help start-up,
and triage against pip-audit on the same records and the same 600 packages.

    .venv/bin/python benchmarks/bench_foundation.py

Prints figures; asserts nothing. Data: ../shared/data/pypa-advisory-db and the pins of
../shared/data/lockfiles.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.osv_server import load_index, serve
from triage.lockfiles import read_lockfile

REPOSITORY = Path(__file__).resolve().parent.parent
DATA = REPOSITORY.parent / "shared" / "data"
ADVISORIES = DATA / "pypa-advisory-db"
BIN = Path(sys.executable).parent
TRIAGE = str(BIN / "triage")


def timed(
    command: list[str], runs: int = 1, *, warm_up: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Median wall time of `runs` runs, after one untimed run unless `warm_up` is false."""
    if warm_up:
        subprocess.run(command, capture_output=True, text=True, check=False)
    samples = []
    results = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        results.append(subprocess.run(command, capture_output=True, text=True, check=False))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), results[-1]


def real_pins(count: int, *, one_per_name: bool) -> list[tuple[str, str]]:
    """(name, version) pins from the real lockfiles: `count` of them, one per name (pip-audit
    refuses a name pinned twice) or every distinct pair (a monorepo-sized lockfile)."""
    pins: set[tuple[str, str]] = set()
    for path in sorted(DATA.joinpath("lockfiles").rglob("*")):
        if path.is_file() and path.suffix != ".md":
            pins.update((p.name, p.version) for p in read_lockfile(path, path.parent).packages)
    if one_per_name:
        return sorted(dict(sorted(pins)).items())[:count]
    return sorted(pins)[:count]


def synced_database(db: Path) -> Path:
    """A database synced from the PyPA advisory data, through the command."""
    subprocess.run(
        [TRIAGE, "db", "sync", "--source", str(ADVISORIES), "--db", str(db), "-q"],
        check=True,
        capture_output=True,
    )
    return db


def pip_audit_command(requirements: Path, osv_url: str, cache: Path) -> list[str]:
    """pip-audit at its fastest: no pip, no resolution, OSV at `osv_url`, JSON out."""
    return [
        str(BIN / "pip-audit"),
        "-r",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "-s",
        "osv",
        "--osv-url",
        osv_url,
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--cache-dir",
        str(cache),
    ]


def write_requirements(path: Path, pins: list[tuple[str, str]]) -> None:
    path.write_text("".join(f"{name}=={version}\n" for name, version in pins))


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    try:
        db = scratch / "t.db"
        sync = [TRIAGE, "db", "sync", "--source", str(ADVISORIES), "--db", str(db), "-q"]
        start = time.perf_counter()
        subprocess.run(sync, capture_output=True, check=True)
        print(f"sync, 2,661 records, empty database: {time.perf_counter() - start:.2f} s")
        noop, _ = timed(sync, runs=5)
        print(f"no-op re-sync (whole command):     {noop:.2f} s (target < 0.5 s)")
        helptime, _ = timed([TRIAGE, "--help"], runs=10)
        print(f"triage --help start-up:            {helptime * 1000:.0f} ms (target < 150 ms)")

        pins = real_pins(1000, one_per_name=False)
        big = scratch / "requirements-1000.txt"
        write_requirements(big, pins)
        scan = [
            TRIAGE,
            "scan",
            str(scratch),
            "--lockfile",
            str(big),
            "--db",
            str(db),
            "--format",
            "json",
        ]
        scan_time, done = timed(scan, runs=5)
        findings = len(json.loads(done.stdout)["findings"])
        print(f"scan, {len(pins)} packages:              {scan_time:.2f} s ({findings} findings)")

        medium = scratch / "requirements-600.txt"
        write_requirements(medium, real_pins(600, one_per_name=True))
        server, url = serve(load_index(ADVISORIES))
        audit = pip_audit_command(medium, url, scratch / "cache")
        shutil.rmtree(scratch / "cache", ignore_errors=True)
        start = time.perf_counter()
        audited = subprocess.run(audit, capture_output=True, text=True, check=False)
        audit_time = time.perf_counter() - start
        server.shutdown()
        if not audited.stdout:
            raise SystemExit(f"pip-audit failed: {audited.stderr[-2000:]}")
        ours = [
            TRIAGE,
            "scan",
            str(scratch),
            "--lockfile",
            str(medium),
            "--db",
            str(db),
            "--format",
            "json",
        ]
        ours_time, ours_done = timed(ours, runs=5)
        theirs = {
            (dep["name"].lower(), vuln["id"])
            for dep in json.loads(audited.stdout)["dependencies"]
            for vuln in dep.get("vulns", [])
        }
        triage_findings = json.loads(ours_done.stdout)["findings"]
        covered = all(
            any(
                f["package"] == name and (vid == f["advisory"] or vid in f["aliases"])
                for f in triage_findings
            )
            for name, vid in theirs
        )
        packages_theirs = {name for name, _ in theirs}
        packages_ours = {f["package"] for f in triage_findings}
        print(
            f"600 packages: pip-audit {audit_time:.2f} s, triage {ours_time:.2f} s, "
            f"{audit_time / ours_time:.1f}x faster (target >= 5x)"
        )
        print(
            f"  pip-audit: {len(theirs)} (package, record) hits in {len(packages_theirs)} "
            f"packages; triage: {len(triage_findings)} findings (alias groups) in "
            f"{len(packages_ours)} packages; same packages: {packages_theirs == packages_ours};"
            f" every pip-audit record inside a triage finding: {covered}"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
