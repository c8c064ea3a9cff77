"""Guided remediation (issue 25): `triage fix` on the real lockfiles of ../shared/data/lockfiles
that have findings against the PyPA advisory data: the share of findings with a plan, the
packages each ready plan moves, and the time per plan (real uv resolving every plan).

This machine has no PyPI: the index is a loopback stand-in serving generated wheels (PEP 691
pages, PEP 658 metadata). Each locked project gets its locked version(s) and every version the
advisory data names for it (the fixed ones among them), each requiring what the lock says the
locked version requires, without bounds. What is measured is triage's planning and uv's
resolving on real graphs, not what PyPI would offer. A uv.lock is given its real
pyproject.toml from ../shared/data/uv-projects (else the one its `[package.metadata]`
records), and its registry URLs point at the stand-in.

    .venv/bin/python benchmarks/bench_fix.py [NAME]

Prints one row per lockfile and the totals (with NAME, only the lockfiles whose name holds it,
and their first plans in full); asserts nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_foundation import ADVISORIES, DATA, TRIAGE, synced_database
from tests.wheel_index import Release, serve_wheels
from triage.lockfiles import read_lockfile
from triage.sources.records import decode_record

LOCKS = DATA / "lockfiles"
# The real pyproject.toml of a uv.lock, where ../shared/data/uv-projects has it.
PROJECTS = {
    "fastapi__full-stack-fastapi-template__backend__uv.lock": "fastapi-template-backend",
    "invoke-ai__InvokeAI__uv.lock": "invoke-ai",
}
# (file in ../shared/data/lockfiles, the name a project gives it)
CASES = [
    ("fastapi__full-stack-fastapi-template__backend__uv.lock", "uv.lock"),
    ("invoke-ai__InvokeAI__uv.lock", "uv.lock"),
    ("CTFd__CTFd__requirements.txt", "requirements.txt"),
    ("pypi__warehouse__requirements__main.txt", "requirements.txt"),
    ("django__djangoproject.com__requirements", "requirements/"),
    ("openedx__ecommerce__requirements__production.txt", "requirements.txt"),
    ("getredash__redash__poetry.lock", "poetry.lock"),
    ("lnbits__lnbits__poetry.lock", "poetry.lock"),
    ("postmanlabs__httpbin__Pipfile.lock", "Pipfile.lock"),
    ("psf__requests-html__Pipfile.lock", "Pipfile.lock"),
    ("pypa__pipenv__pylock.toml", "pylock.toml"),
]


def advisory_versions() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Every version the advisory data names, and every version it lists as affected, by
    package."""
    named: dict[str, set[str]] = {}
    affected: dict[str, set[str]] = {}
    for path in ADVISORIES.rglob("*.yaml"):
        record = decode_record(path.read_bytes(), str(path))
        for entry in record.affected:
            named.setdefault(entry.package, set()).update(entry.versions)
            affected.setdefault(entry.package, set()).update(entry.versions)
            named[entry.package].update(
                e.version for r in entry.ranges for e in r.events if e.version != "0"
            )
    return named, affected


AGED = 8  # packages of a uv.lock moved back to an affected version


def aged(lock_text: str, affected: dict[str, set[str]]) -> str:
    """The lock as it was when it was made a while ago: up to AGED of its packages at the
    highest version below the locked one that the advisory data lists as affected (these real
    locks are recent: the advisory data has nothing against them as they are), without the
    files of the newer version."""
    from packaging.version import InvalidVersion, Version

    blocks = lock_text.split("\n[[package]]\n")
    moved = 0
    for index, block in enumerate(blocks[1:], 1):
        found = re.match(r'name = "([^"]+)"\nversion = "([^"]+)"', block)
        if found is None or moved >= AGED:
            continue
        name, version = found.groups()
        older = []
        for candidate in affected.get(name, ()):
            with contextlib.suppress(InvalidVersion):
                if Version(candidate) < Version(version):
                    older.append(Version(candidate))
        if older:
            block = block.replace(f'version = "{version}"', f'version = "{max(older)}"', 1)
            block = re.sub(r"\nsdist = \{[^\n]*\}", "", block)
            blocks[index] = re.sub(r"\nwheels = \[\n(?:    [^\n]*\n)*\]", "", block)
            moved += 1
    return "\n[[package]]\n".join(blocks)


def releases(folder: Path, original: Path, named: dict[str, set[str]]) -> list[Release]:
    """The stand-in index's releases for the projects the lockfiles in `folder` lock, and the
    versions the original lock had (an aged lock's newer versions exist too)."""
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    if original.is_file():
        paths.append(original)
    packages = [p for path in paths for p in read_lockfile(path, path.parent).packages]
    requires: dict[str, set[str]] = {}
    for package in packages:
        for parent in package.via:
            requires.setdefault(parent, set()).add(package.name)
    versions: dict[str, set[str]] = {}
    for package in packages:
        versions.setdefault(package.name, set()).add(package.version)
    made = []
    for name, locked in versions.items():
        for version in sorted(locked | named.get(name, set())):
            if re.fullmatch(r"[0-9][0-9a-z.+!-]*", version):
                made.append(Release(name, version, sorted(requires.get(name, set()))))
    return made


def uv_project(lock_text: str, url: str) -> tuple[str, str]:
    """The uv.lock with its registry on the stand-in, and the pyproject.toml it records."""
    document: Any = tomllib.loads(lock_text)
    root = next(p for p in document["package"] if "virtual" in p["source"] or "editable"
                in p["source"])  # fmt: skip
    metadata = root.get("metadata", {})

    def requirement(item: dict[str, Any]) -> str:
        extras = f"[{','.join(item['extras'])}]" if item.get("extras") else ""
        marker = f" ; {item['marker']}" if item.get("marker") else ""
        return f"{item['name']}{extras}{item.get('specifier', '')}{marker}"

    dependencies = [requirement(i) for i in metadata.get("requires-dist", [])]
    lines = [
        "[project]",
        f'name = "{root["name"]}"',
        f'version = "{root.get("version", "0")}"',
        f"requires-python = {json.dumps(document.get('requires-python', '>=3.8'))}",
        f"dependencies = {json.dumps(dependencies)}",
    ]
    groups = metadata.get("requires-dev", {})
    if groups:
        lines.append("[dependency-groups]")
        lines += [f"{json.dumps(g)} = {json.dumps([requirement(i) for i in items])}"
                  for g, items in groups.items()]  # fmt: skip
    overrides = document.get("manifest", {}).get("overrides", [])
    if overrides:
        lines += ["[tool.uv]", "override-dependencies = "
                  + json.dumps([requirement(i) for i in overrides])]  # fmt: skip
    text = lock_text.replace("https://pypi.org/simple", f"{url}/simple")
    text = re.sub(r'https://files\.pythonhosted\.org/[^"]*/([^"/]+)"', rf'{url}/files/\1"', text)
    return "\n".join(lines) + "\n", text


def main(keep: str | None = None) -> None:
    named, affected = advisory_versions()
    with tempfile.TemporaryDirectory(prefix="bench-fix-") as work:
        base = Path(work)
        db = synced_database(base / "t.db")
        rows = []
        totals: Counter[str] = Counter()
        moved: list[int] = []
        seconds = 0.0
        reasons: Counter[str] = Counter()
        for source, name in [c for c in CASES if keep is None or keep in c[0]]:
            folder = base / source
            folder.mkdir()
            original = LOCKS / source
            if original.is_dir():
                (folder / name).mkdir()
                for child in original.iterdir():
                    (folder / name / child.name).write_bytes(child.read_bytes())
            else:
                text = original.read_text()
                (folder / name).write_text(aged(text, affected) if name == "uv.lock" else text)
            with serve_wheels(releases(folder, original, named)) as (url, _):
                if name == "uv.lock":
                    manifest, lock = uv_project((folder / name).read_text(), url)
                    real = DATA / "uv-projects" / PROJECTS.get(source, "-") / "pyproject.toml"
                    (folder / "pyproject.toml").write_text(
                        real.read_text() if real.is_file() else manifest
                    )
                    (folder / name).write_text(lock)
                env = {**os.environ, "TRIAGE_PYPI_URL": url, "TRIAGE_LOOPBACK_HTTP": "1"}
                env.pop("TRIAGE_OFFLINE", None)
                start = time.perf_counter()
                done = subprocess.run(
                    [TRIAGE, "fix", str(folder), "--db", str(db), "--format", "json", "-q"],
                    capture_output=True, text=True, env=env, check=False,
                )  # fmt: skip
                elapsed = time.perf_counter() - start
            if done.returncode not in (0, 1):
                print(f"{source}: exit {done.returncode}: {done.stderr.strip()[:200]}")
                continue
            report = json.loads(done.stdout)
            if keep:
                print(json.dumps(report["plans"][:2], indent=1)[:3000])
            states = Counter(p["state"] for p in report["plans"])
            ready = [p for p in report["plans"] if p["state"] == "ready"]
            reasons.update(
                p["reason"].split(":")[0] for p in report["plans"] if p["state"] == "blocked"
            )
            moved += [len(p["moves"]) for p in ready]
            seconds += elapsed
            totals.update(states)
            totals["findings"] += report["findings"]
            totals["fixed"] += report["fixed"]
            totals["plans"] += len(report["plans"])
            rows.append((source, report["findings"], report["fixed"], states, elapsed,
                         len(report["plans"])))  # fmt: skip
        print(f"{'lockfile':<52} {'findings':>8} {'planned':>7}  states; s per plan")
        for source, findings, fixed, states, elapsed, count in rows:
            per = elapsed / count if count else 0.0
            shown = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            print(f"{source[:52]:<52} {findings:>8} {fixed:>7}  {shown}; {per:.2f}")
        share = totals["fixed"] / totals["findings"] if totals["findings"] else 0.0
        resolved = totals["plans"] - totals["manual"]
        print(
            f"\nfindings {totals['findings']}, with a ready plan {totals['fixed']} ({share:.0%}); "
            f"plans {totals['plans']}: ready {totals['ready']}, manual {totals['manual']}, "
            f"blocked {totals['blocked']}"
        )
        for reason, count in reasons.most_common():
            print(f"  blocked: {count} x {reason}")
        if moved:
            print(f"packages moved per ready plan: mean {sum(moved) / len(moved):.2f}, "
                  f"max {max(moved)}")  # fmt: skip
        if totals["plans"]:
            print(f"time per plan: {seconds / totals['plans']:.2f} s over all plans "
                  f"({resolved} resolved by uv or blocked)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
