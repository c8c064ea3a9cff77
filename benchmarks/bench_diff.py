"""PR-gate figures (issue 3): `triage diff` of a 1,000-package lockfile with a 10-package
change, against one `triage scan` of the same lockfile.

    .venv/bin/python benchmarks/bench_diff.py

Prints medians (scan and diff alternating, 11 runs each); asserts nothing. The first diff of
a base reads both sides; later diffs (the next push, or any pull request on the same base)
find the base lockfile by its blob id.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_fast_path import alternate
from benchmarks.bench_foundation import (
    TRIAGE,
    real_pins,
    synced_database,
    timed,
    write_requirements,
)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
        check=True,
        capture_output=True,
    )


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="triage-bench-diff-"))
    try:
        db = synced_database(scratch / "t.db")
        repo = scratch / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        pins = real_pins(1000, one_per_name=False)
        write_requirements(repo / "requirements.txt", pins)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        git(repo, "checkout", "-qb", "feature")
        changed = pins[:990] + [(f"{name}-renamed", version) for name, version in pins[990:]]
        write_requirements(repo / "requirements.txt", changed)
        git(repo, "commit", "-qam", "change 10 packages")

        # Offline: what the index says of the packages a pull request adds is bench_lookups'.
        scan = [TRIAGE, "scan", str(repo), "--db", str(db), "--format", "json", "--offline"]
        diff = [TRIAGE, "diff", str(repo), "--base", "main", "--db", str(db), "--format", "json"]
        diff.append("--offline")
        cold_db = scratch / "cold.db"
        shutil.copy(db, cold_db)
        cold = [TRIAGE, "diff", str(repo), "--base", "main", "--db", str(cold_db), "--offline"]
        cold_time, _ = timed([*cold, "--format", "json"], warm_up=False)
        # Alternating, so that both see the machine in the same state.
        times = alternate({"scan": scan, "diff": diff}, runs=11)
        scan_time, warm_time = (statistics.median(times[name]) for name in ("scan", "diff"))
        print(f"scan of 1,000 packages:                  {scan_time:.2f} s")
        print(
            f"diff, base not yet cached (first run):   {cold_time:.2f} s "
            f"({cold_time / scan_time:.2f}x a scan)"
        )
        print(
            f"diff, base cached by blob id (next push): {warm_time:.2f} s "
            f"({warm_time / scan_time:.2f}x a scan; target <= 1.3x)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
