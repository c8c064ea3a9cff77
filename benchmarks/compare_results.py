"""Same results before and after a change: `triage scan --format json` of every real lockfile
in ../shared/data/lockfiles (and `db verify` of the database) from an earlier commit and from
the working tree, each with its own database synced from the same PyPA advisory data.

    .venv/bin/python benchmarks/compare_results.py COMMIT

Prints one line per lockfile (same / differs, with the first difference) and exits 1 when any
differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import ADVISORIES, DATA, REPOSITORY

LOCKFILES = DATA / "lockfiles"


def triage(source: Path, *args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(source), "TRIAGE_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "triage", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout


def comparable(text: str) -> Any:
    """The scan's JSON without what names the run (the database's path)."""
    document = json.loads(text)
    document.pop("database", None)
    return document


def main() -> None:
    commit = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="triage-compare-") as scratch:
        old = Path(scratch) / "old"
        subprocess.run(
            ["git", "-C", str(REPOSITORY), "worktree", "add", "-q", "--detach", str(old), commit],
            check=True,
        )
        try:
            differs = 0
            databases = {}
            for side, source in (("old", old), ("new", REPOSITORY)):
                db = Path(scratch) / f"{side}.db"
                sync = ["db", "sync", "--source", str(ADVISORIES), "--db", str(db), "-q"]
                triage(source, *sync, cwd=Path(scratch))
                databases[side] = (source, db)
            targets = sorted(p for p in LOCKFILES.iterdir() if p.name not in ("SOURCES.md",))
            for target in targets:
                folder = target if target.is_dir() else target.parent
                files = sorted(target.glob("*.txt")) if target.is_dir() else [target]
                picked = [word for f in files for word in ("--lockfile", str(f))]
                outputs = {}
                for side, (source, db) in databases.items():
                    code, out = triage(
                        source,
                        "scan",
                        str(folder),
                        *picked,
                        "--db",
                        str(db),
                        "--format",
                        "json",
                        cwd=Path(scratch),
                    )
                    outputs[side] = (code, comparable(out) if out else None)
                same = outputs["old"] == outputs["new"]
                differs += not same
                findings = len((outputs["new"][1] or {}).get("findings", []))
                print(
                    f"{'same   ' if same else 'DIFFERS'} {target.name} "
                    f"(exit {outputs['new'][0]}, {findings} findings)"
                )
        finally:
            subprocess.run(
                ["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(old)],
                check=False,
            )
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
