"""Hostile bytes (SPEC §3, DESIGN.md): every real lockfile in ../shared/data/lockfiles and a
real deny.toml, mutated (truncation, byte flips, other encodings, type swaps, deep nesting,
huge numbers), through the CLI. Each case ends in exit 0, 1 or 2 with no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.conftest import LOCKFILES, REPOSITORY
from tests.fuzzing import MUTATIONS, mutate, seed_corpus
from triage.cli import main

CASES_PER_FORMAT = 210  # 35 of each of the six kinds of mutation
FORMATS = {
    "requirements": ("text", sorted(LOCKFILES.rglob("*.txt"))),
    "pylock.toml": ("toml", sorted(LOCKFILES.glob("*pylock*.toml"))),
    "uv.lock": ("toml", sorted(LOCKFILES.glob("*uv.lock"))),
    "poetry.lock": ("toml", sorted(LOCKFILES.glob("*poetry.lock"))),
    "Pipfile.lock": ("json", sorted(LOCKFILES.glob("*Pipfile.lock"))),
    "pyproject.toml": ("toml", sorted(LOCKFILES.glob("*pyproject.toml"))),
}
LOCK_NAMES = {
    "requirements": "requirements.txt",
    "pylock.toml": "pylock.toml",
    "uv.lock": "uv.lock",
    "poetry.lock": "poetry.lock",
    "Pipfile.lock": "Pipfile.lock",
    "pyproject.toml": "pyproject.toml",
}


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


def test_every_kind_of_mutation_is_exercised() -> None:
    assert CASES_PER_FORMAT % len(MUTATIONS) == 0 and len(MUTATIONS) == 6
    assert all(files for _, files in FORMATS.values())


@pytest.mark.parametrize("name", list(FORMATS))
def test_mutated_lockfiles_end_in_a_message_not_a_traceback(
    name: str, synced_db: Path, tmp_path: Path
) -> None:
    kind, files = FORMATS[name]
    target = tmp_path / LOCK_NAMES[name]
    seen: dict[int, int] = {}
    corpora = [seed_corpus(real.read_bytes(), kind, keep=10) for real in files]
    for index in range(CASES_PER_FORMAT):
        real, data = files[index % len(files)], corpora[index % len(files)]
        case, mutated = mutate(data, kind, index, seed=index // len(files))
        target.write_bytes(mutated)
        scan = ["scan", str(tmp_path), "--lockfile", str(target), "--db", str(synced_db), "-q"]
        code, err = run(*scan)
        assert code in (0, 1, 2) and "Traceback" not in err, (real.name, case, err)
        if code == 2:
            assert f"{target}" in err, (real.name, case, err)  # the message names the file
        seen[code] = seen.get(code, 0) + 1
    assert seen.get(2, 0) > 0 and seen.get(0, 0) + seen.get(1, 0) > 0, seen


def test_a_mutated_deny_toml_ends_in_a_message_not_a_traceback(
    synced_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("click==8.1.7\n")
    config = tmp_path / "deny.toml"
    sources = [REPOSITORY / "tests" / "fixtures" / "deny-commented.toml", REPOSITORY / "deny.toml"]
    for index in range(CASES_PER_FORMAT):
        real = sources[index % len(sources)]
        case, mutated = mutate(real.read_bytes(), "toml", index, seed=7)
        config.write_bytes(mutated)
        scan = ["scan", str(tmp_path), "--config", str(config), "--db", str(synced_db), "-q"]
        code, err = run(*scan)
        assert code in (0, 1, 2) and "Traceback" not in err, (real.name, case, err)
