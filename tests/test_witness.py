"""The scan witness (issues 13 and 21, SPEC §12): an in-toto statement in a DSSE envelope,
signed with a trust-store key; deterministic; verified by signature and then recomputed from
the same inputs through the reference path, judged with the verifier's policy; failing,
naming the cause, after a one-byte change to any input, an edit of the statement, a missing
or unknown signature, a policy path of its own, or an as_of in the future."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOW
from tests.gitrepos import GitRepo
from tests.schemas import validate
from triage.cli import main

LOCKED = "urllib3==2.0.0\n"
KEY = ["--witness-key", "ci"]


@pytest.fixture
def project(synced_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose trust store holds the public half of the key `ci`, its private
    half outside the repository."""
    repo = GitRepo(tmp_path / "repo")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(repo.root)
    assert main(["trust", "keygen", "ci"]) == 0
    repo.commit("lock", requirements_dot_txt=LOCKED, deny_dot_toml="[advisories]\nignore = []\n")
    shutil.copy(synced_db, tmp_path / "t.db")
    monkeypatch.setenv("TRIAGE_DB", str(tmp_path / "t.db"))
    return repo.root


def verify(capsys: pytest.CaptureFixture[str], witness: Path, *more: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["witness", "verify", str(witness), *more])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out.splitlines()[1:]  # after the line saying who signed and when it judges


def statement(path: Path) -> dict[str, Any]:
    envelope = json.loads(path.read_text())
    found: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    if found.get("predicate", {}).get("schema") == "triage/witness-v1":
        validate(found["predicate"])  # docs/schemas/witness-v1.schema.json
    return found


def rewrite(path: Path, change: dict[str, Any]) -> None:
    """The statement's predicate changed, the signatures kept as they were."""
    envelope = json.loads(path.read_text())
    body = statement(path)
    body["predicate"] |= change
    envelope["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
    path.write_text(json.dumps(envelope))


def flip_one_byte(path: Path, old: bytes, new: bytes) -> None:
    """Replace the first `old` with `new`, which differ in exactly one byte."""
    data = path.read_bytes()
    changed = data.replace(old, new, 1)
    assert sum(a != b for a, b in zip(data, changed, strict=True)) == 1
    path.write_bytes(changed)


def test_two_scans_give_byte_identical_signed_witnesses_that_verify(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--witness", "w1.json", *KEY]) == 1
    assert main(["scan", "--witness", "w2.json", "--format", "json", *KEY]) == 1
    assert (project / "w1.json").read_bytes() == (project / "w2.json").read_bytes()
    envelope = json.loads((project / "w1.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in envelope["signatures"]] == ["ed25519:ci"]
    body = statement(project / "w1.json")
    assert body["_type"] == "https://in-toto.io/Statement/v1"
    assert body["predicateType"] == "urn:triage:witness:v1"
    assert [s["name"] for s in body["subject"]] == ["requirements.txt"]
    predicate = body["predicate"]
    assert predicate["verdict"] == "fail" and predicate["subject"] == {"kind": "working-tree"}
    capsys.readouterr()
    assert main(["witness", "verify", "w1.json"]) == 0
    first, last = capsys.readouterr().out.splitlines()
    assert first == (
        f"w1.json: signed by ed25519:ci; judged as of {NOW.date().isoformat()} (the witness's "
        f"day), verified at {NOW.isoformat(timespec='seconds')}"
    )
    assert last == "w1.json: verified; every input and the verdict are as recorded"


def test_an_unsigned_witness_is_refused_unless_allowed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--witness", "w.json"]) == 1
    assert json.loads((project / "w.json").read_text())["signatures"] == []
    assert verify(capsys, project / "w.json") == (
        1,
        ["mismatch: the witness is not signed; refused (--allow-unsigned accepts it)"],
    )
    assert verify(capsys, project / "w.json", "--allow-unsigned")[0] == 0


def test_a_key_the_trust_store_does_not_hold_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trust", "keygen", "mallory"]) == 0
    assert main(["scan", "--witness", "w.json", "--witness-key", "mallory"]) == 1
    (project / "trust-store" / "keys" / "mallory.pub").unlink()  # the verifier's trust store
    code, lines = verify(capsys, project / "w.json")
    assert code == 1 and lines[0] == (
        "mismatch: signed by ed25519:mallory, which the trust store's keys/ does not hold; refused"
    )


@pytest.mark.parametrize(
    "change",
    [{"verdict": "pass"}, {"as_of": "2026-01-01"}, {"database": "sha256:" + "0" * 64}],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_field_or_a_backdated_as_of_breaks_the_signature(
    project: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any]
) -> None:
    main(["scan", "--witness", "w.json", *KEY])
    rewrite(project / "w.json", change)
    code, lines = verify(capsys, project / "w.json")
    assert code == 1 and lines[0] == (
        "mismatch: the signature by ed25519:ci does not verify: the statement was changed"
    )


def test_an_as_of_in_the_future_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", "--witness", "w.json"])
    tomorrow = (NOW + dt.timedelta(days=1)).date().isoformat()
    rewrite(project / "w.json", {"as_of": tomorrow})
    code, lines = verify(capsys, project / "w.json", "--allow-unsigned")
    assert code == 1 and lines == [f"mismatch: as_of {tomorrow} is in the future; refused"]


def test_the_verifiers_policy_judges_and_another_policy_path_is_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ignore = (
        '[advisories]\nignore = [{ id = "PYSEC-2023-192", reason = "r", '
        'issue = "https://x.example/1" }, { id = "PYSEC-2023-212", reason = "r", '
        'issue = "https://x.example/2" }]\n'
    )
    (project / "lenient.toml").write_text(ignore)
    assert main(["scan", "--witness", "w.json", "--config", "lenient.toml", *KEY]) == 0
    code, lines = verify(capsys, project / "w.json")
    assert code == 1
    assert lines[0] == (
        "mismatch: policy: made with lenient.toml, verified with deny.toml (the verifier's "
        "policy judges)"
    )
    assert "mismatch: verdict: pass recorded, fail now" in lines
    assert verify(capsys, project / "w.json", "--config", "lenient.toml")[0] == 0


def test_a_changed_lockfile_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", "--witness", "w.json", *KEY])
    flip_one_byte(project / "requirements.txt", b"2.0.0", b"2.0.7")  # urllib3 2.0.7: fixed
    code, lines = verify(capsys, project / "w.json")
    assert code == 1
    assert lines[0].startswith("mismatch: lockfiles requirements.txt: digest sha256:")
    assert "mismatch: verdict: fail recorded, pass now" in lines


def test_a_lockfile_that_no_longer_reads_is_a_named_mismatch(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", "--witness", "w.json", *KEY])
    (project / "requirements.txt").write_text("urllib3==2.0.0 [not a requirement\n")
    code, lines = verify(capsys, project / "w.json")
    assert code == 1
    assert lines[0].startswith("mismatch: a lockfile no longer reads: ")
    assert "requirements.txt: line 1" in lines[0]


def test_a_changed_policy_is_named(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", "--witness", "w.json", *KEY])
    flip_one_byte(project / "deny.toml", b"ignore ", b"ignore\t")  # same policy, other bytes
    code, lines = verify(capsys, project / "w.json")
    assert code == 1 and lines[0].startswith("mismatch: policy deny.toml: digest sha256:")


def test_a_changed_database_is_named_even_with_its_recorded_digest_untouched(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["scan", "--witness", "w.json", *KEY])
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


def test_a_diff_witness_records_the_lockfiles_the_change_touched(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo.__new__(GitRepo)
    repo.root = project
    repo.branch("feature")
    repo.commit("bump", requirements_dot_txt="urllib3==2.0.0\npillow==9.0.0\n")
    assert main(["diff", "--base", "main", "--witness", "d1.json", *KEY]) == 1
    assert main(["diff", "--base", "main", "--witness", "d2.json", *KEY]) == 1
    assert (project / "d1.json").read_bytes() == (project / "d2.json").read_bytes()
    predicate = statement(project / "d1.json")["predicate"]
    assert predicate["subject"]["kind"] == "diff"
    assert predicate["changed"] == ["requirements.txt"]
    assert set(predicate["lockfiles"]) == {"base:requirements.txt", "head:requirements.txt"}
    assert all(v.startswith("git-blob:") for v in predicate["lockfiles"].values())
    assert all(key.endswith(" active") and "pillow" in key for key in predicate["findings"]["keys"])
    # The working tree may change at will: the witness is of the commits.
    (project / "requirements.txt").write_text("anything\n")
    assert verify(capsys, project / "d1.json")[0] == 0
    # What the change touched is compared with the change between the two refs.
    rewrite(project / "d1.json", {"changed": []})
    code, lines = verify(capsys, project / "d1.json", "--allow-unsigned")
    assert (
        code == 1
        and (
            "mismatch: lockfiles the change touched: none recorded, requirements.txt between the "
            "two refs now"
        )
        in lines
    )


def test_an_audit_witness_verifies(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", ".", "--witness", "a.json", *KEY]) == 1
    assert statement(project / "a.json")["predicate"]["command"] == "audit"
    assert verify(capsys, project / "a.json")[0] == 0


def test_an_audit_of_a_ref_binds_git_blobs_and_verifies(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", ".", "--ref", "HEAD", "--witness", "r.json", *KEY]) == 1
    predicate = statement(project / "r.json")["predicate"]
    assert predicate["subject"]["kind"] == "commit"
    assert predicate["lockfiles"]["requirements.txt"].startswith("git-blob:")
    (project / "requirements.txt").write_text("anything\n")  # the commit is what counts
    assert verify(capsys, project / "r.json")[0] == 0


HOSTILE_FILES = {
    "nul": b'{"payloadType": "application/vnd.in-toto+json\x00", "payload": ""}',
    "surrogate": b'{"payloadType": "\\ud800", "payload": "", "signatures": []}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "not-utf8": b"\xff\xfe\x00{",
    "payload-not-base64": b'{"payloadType": "application/vnd.in-toto+json", '
    b'"payload": "%%%", "signatures": []}',
    "old-sealed-format": b'{"schema": "triage/witness-v1", "witness_digest": "sha256:00"}',
}


@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_a_hostile_witness_file_ends_in_a_message_not_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (project / "w.json").write_bytes(HOSTILE_FILES[name])
    capsys.readouterr()
    code = main(["witness", "verify", "w.json", "--allow-unsigned"])
    out, err = capsys.readouterr()
    assert code == 2 and not out and "Traceback" not in err
    assert err.startswith("error: w.json: not a triage witness: ")


@pytest.mark.parametrize(
    "edit",
    [
        {"findings": ["not", "a", "table"]},
        {"subject": "working-tree"},
        {"subject": {"kind": "elsewhere"}},
        {"subject": {"kind": "commit", "commit": "HEAD\u0000--output=x"}},
        {"subject": {"kind": "diff", "base": "-x", "head": "main"}},
        {"policy": ["deny.toml"]},
        {"lockfiles": {"a": 1}},
        {"as_of": "yesterday"},
        {"verdict": "maybe"},
        {"changed": "requirements.txt"},
        {"schema": "something-else"},
    ],
    ids=lambda edit: next(iter(edit)),
)
def test_a_malformed_statement_ends_in_a_message_not_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str], edit: dict[str, object]
) -> None:
    main(["scan", "--witness", "w.json"])
    rewrite(project / "w.json", edit)
    capsys.readouterr()
    code = main(["witness", "verify", "w.json", "--allow-unsigned"])
    _out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and "w.json" in err
