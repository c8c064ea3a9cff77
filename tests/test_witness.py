"""The scan witness (issue 13, SPEC §12): deterministic, verified from the same inputs, and
failing, naming the cause, after a one-byte change to any of them or to itself."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.gitrepos import GitRepo
from triage.cli import main

LOCKED = "urllib3==2.0.0\n"
POLICY = '[advisories]\nignore = []\nsources = ["embedded"]\n'


@pytest.fixture
def project(synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("lock", requirements_dot_txt=LOCKED, deny_dot_toml="[advisories]\nignore = []\n")
    shutil.copy(synced_db, tmp_path / "t.db")
    monkeypatch.chdir(repo.root)
    monkeypatch.setenv("TRIAGE_DB", str(tmp_path / "t.db"))
    return repo.root


def verify(capsys: pytest.CaptureFixture[str], witness: Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["witness", "verify", str(witness)])
    return code, capsys.readouterr().out.splitlines()


def flip_one_byte(path: Path, old: bytes, new: bytes) -> None:
    """Replace the first `old` with `new`, which differ in exactly one byte."""
    data = path.read_bytes()
    changed = data.replace(old, new, 1)
    assert sum(a != b for a, b in zip(data, changed, strict=True)) == 1
    path.write_bytes(changed)


def test_two_scans_give_byte_identical_witnesses_that_verify(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--witness", "w1.json"]) == 1
    assert main(["scan", "--witness", "w2.json", "--format", "json"]) == 1
    assert (project / "w1.json").read_bytes() == (project / "w2.json").read_bytes()
    document = json.loads((project / "w1.json").read_text())
    assert document["verdict"] == "fail" and document["subject"] == {"kind": "working-tree"}
    assert set(document["lockfiles"]) == {"requirements.txt"}
    assert verify(capsys, project / "w1.json") == (
        0,
        [f"{project / 'w1.json'}: verified; every input and the verdict are as recorded"],
    )


def test_a_changed_lockfile_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", "--witness", "w.json"])
    flip_one_byte(project / "requirements.txt", b"2.0.0", b"2.0.7")  # urllib3 2.0.7: fixed
    code, lines = verify(capsys, project / "w.json")
    assert code == 1
    assert lines[0].startswith("mismatch: lockfiles requirements.txt: digest sha256:")
    assert "mismatch: verdict: fail recorded, pass now" in lines


def test_a_changed_policy_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", "--witness", "w.json"])
    flip_one_byte(project / "deny.toml", b"ignore ", b"ignore\t")  # same policy, other bytes
    code, lines = verify(capsys, project / "w.json")
    assert code == 1 and lines[0].startswith("mismatch: policy deny.toml: digest sha256:")


def test_a_changed_database_is_named_even_with_its_recorded_digest_untouched(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", "--witness", "w.json"])
    with sqlite3.connect(tmp_path / "t.db") as db:
        # One byte of one stored range: the digest recorded at sync stays as it was.
        (ranges,) = db.execute(
            "select ranges from affected where advisory_id = 'PYSEC-2023-192'"
        ).fetchone()
        assert "2.0.6" in ranges
        db.execute(
            "update affected set ranges = ? where advisory_id = 'PYSEC-2023-192'",
            [ranges.replace("2.0.6", "2.0.8")],
        )
    code, lines = verify(capsys, project / "w.json")
    assert code == 1 and lines[0].startswith("mismatch: database digest: sha256:")


def test_an_edited_witness_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", "--witness", "w.json"])
    flip_one_byte(project / "w.json", b'"fail"', b'"Fail"')  # the recorded verdict
    code, lines = verify(capsys, project / "w.json")
    assert code == 1
    assert lines[0] == "mismatch: the witness itself: its digest does not match its fields (edited)"


def test_a_diff_witness_reads_git_objects_and_verifies(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo.__new__(GitRepo)
    repo.root = project
    repo.branch("feature")
    repo.commit("bump", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n")
    assert main(["diff", "--base", "main", "--witness", "d1.json"]) == 1
    assert main(["diff", "--base", "main", "--witness", "d2.json"]) == 1
    assert (project / "d1.json").read_bytes() == (project / "d2.json").read_bytes()
    document = json.loads((project / "d1.json").read_text())
    assert document["subject"]["kind"] == "diff"
    assert set(document["lockfiles"]) == {"base:requirements.txt", "head:requirements.txt"}
    assert all(v.startswith("git-blob:") for v in document["lockfiles"].values())
    assert all(key.endswith(" active") and "pillow" in key for key in document["findings"]["keys"])
    # The working tree may change at will: the witness is of the commits.
    (project / "requirements.txt").write_text("anything\n")
    assert verify(capsys, project / "d1.json")[0] == 0


def test_an_audit_witness_verifies(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", ".", "--witness", "a.json"]) == 1
    assert json.loads((project / "a.json").read_text())["command"] == "audit"
    assert verify(capsys, project / "a.json")[0] == 0


@pytest.mark.parametrize(
    "edit",
    [
        {"findings": ["not", "a", "table"]},
        {"subject": "working-tree"},
        {"policy": ["deny.toml"]},
        {"policy": {"../../../etc/passwd": "absent"}},
        {"as_of": "yesterday"},
        {"schema": "something-else"},
    ],
    ids=lambda edit: next(iter(edit)),
)
def test_a_hostile_witness_ends_in_a_message_not_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], edit: dict[str, object]
) -> None:
    main(["scan", "--witness", "w.json"])
    document = json.loads((project / "w.json").read_text())
    (project / "w.json").write_text(json.dumps({**document, **edit}))
    code, lines = verify(capsys, project / "w.json")
    assert code in (1, 2)
    if code == 1:
        assert lines and all(line.startswith("mismatch: ") for line in lines)


def test_an_audit_of_a_ref_binds_git_blobs_and_verifies(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", ".", "--ref", "HEAD", "--witness", "r.json"]) == 1
    document = json.loads((project / "r.json").read_text())
    assert document["subject"]["kind"] == "commit"
    assert document["lockfiles"]["requirements.txt"].startswith("git-blob:")
    (project / "requirements.txt").write_text("anything\n")  # the commit is what counts
    assert verify(capsys, project / "r.json")[0] == 0
