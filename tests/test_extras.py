"""The gate installs only what it imports: Celery, APScheduler, cyclonedx and uv are extras
(pyproject.toml, requirements-<extra>.txt), never loaded by the commands a pull request or
the daily audit runs; a command whose extra is missing stops with exit 2 and the install
line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOCKFILES, REPOSITORY
from tests.gitrepos import GitRepo
from triage.cli import main

EXTRA_MODULES = ("celery", "kombu", "redis", "apscheduler", "cyclonedx", "packageurl", "uv")
# Runs the command in a fresh interpreter, then names the extras' modules it loaded.
PROBE = """
import json, sys
from triage.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(EXTRAS)))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def test_the_gate_commands_load_no_extra(synced_db: Path, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"deny.toml": '[advisories]\nsources = []\nstale-db = "allow"\n'})
    repo.branch("feature")
    shutil.copy(
        LOCKFILES / "fastapi__full-stack-fastapi-template__backend__uv.lock", repo.root / "uv.lock"
    )
    repo.commit("lock", {})
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    env = {
        **os.environ,
        "TRIAGE_OFFLINE": "1",
        "TRIAGE_PYPI_URL": "http://127.0.0.1:9",
        "PYTHONPATH": str(REPOSITORY),
    }
    env.pop("GITHUB_TOKEN", None)
    commands = [
        ["scan"],
        ["diff", "--base", "main", "--head", "feature", "--format", "json"],
        ["trust", "check"],
        ["licenses", "check"],
        ["audit", "."],
        ["queue"],
    ]
    probe = PROBE.replace("EXTRAS", repr(json.dumps(EXTRA_MODULES)))
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-c", probe, *command, "--db", str(db)],
            cwd=repo.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = json.loads(done.stderr.strip().splitlines()[-1])
        assert said["code"] in (0, 1) and said["loaded"] == [], (command, done.stderr[-2000:])


@pytest.mark.parametrize(
    ("command", "missing", "extra"),
    [
        (["org", "audit", "--org", "acme", "--engine", "celery"], "celery", "org"),
        (["sbom"], "cyclonedx", "sbom"),
        (["schedule"], "apscheduler", "schedule"),
        (["fix"], "uv", "fix"),
    ],
)
def test_a_missing_extra_is_exit_2_with_the_install_line(
    command: list[str],
    missing: str,
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--db", str(tmp_path / "t.db")]) == 2
    err = capsys.readouterr().err
    assert f"needs triage's {extra} extra, which is not installed" in err
    assert f"-m pip install --require-hashes -r requirements-{extra}.txt" in err
    assert "Traceback" not in err and not (tmp_path / "t.db").exists()
    assert (REPOSITORY / f"requirements-{extra}.txt").is_file()


def pins(lock: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` lock."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=[a-z0-9])", lock.read_text()):
        head = re.match(r"([a-z0-9._-]+)==(\S+)", entry)
        if head:
            found[head[1]] = (head[2], frozenset(re.findall(r"--hash=sha256:(\w+)", entry)))
    return found


def test_every_lock_pins_the_same_versions_with_hashes() -> None:
    """The gate's lock, each extra's and the dev lock agree: installing an extra over the
    gate never changes a version, and every line is hash-pinned."""
    dev = pins(REPOSITORY / "requirements-dev.txt")
    gate = pins(REPOSITORY / "requirements.txt")
    assert "celery" not in gate and "apscheduler" not in gate and "cyclonedx-python-lib" not in gate
    for lock in [
        "requirements.txt",
        *(f"requirements-{e}.txt" for e in ("org", "sbom", "schedule", "fix")),
    ]:
        found = pins(REPOSITORY / lock)
        assert "setuptools" in found, lock  # the build backend, for --no-build-isolation
        for name, (version, hashes) in found.items():
            assert hashes and dev[name] == (version, hashes), (lock, name)
        assert set(gate) <= set(found), lock
