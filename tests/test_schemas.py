"""Every JSON output is stable and versioned (SPEC §8, issue 22): each names its schema, each
schema is published under docs/schemas/ as a JSON Schema, named in the README and the
reference, and real output of every command validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import NOW, REPOSITORY
from tests.gitrepos import GitRepo
from tests.schemas import SCHEMAS, validate
from tests.test_fail_closed import triage
from triage.models import Schema

README = (REPOSITORY / "README.md").read_text()
REFERENCE = (REPOSITORY / "docs" / "json.md").read_text()


def test_every_schema_is_published_valid_and_documented() -> None:
    from jsonschema import Draft202012Validator

    published = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    assert published == sorted(s.file for s in Schema)
    for schema in Schema:
        document = json.loads((SCHEMAS / schema.file).read_text())
        Draft202012Validator.check_schema(document)
        assert document["properties"]["schema"] == {"const": schema.value}
        assert f"`{schema.value}`" in REFERENCE and f"docs/schemas/{schema.file}" in REFERENCE
        assert schema.value in README, schema


def test_every_commands_json_validates_against_its_schema(
    synced_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    repo = GitRepo(tmp_path / "repo")
    repo.commit("lock", {"requirements.txt": "urllib3==2.0.0\n", "deny.toml": ""})
    repo.branch("bump")
    repo.commit("pillow", {"requirements.txt": "urllib3==2.0.0\npillow==9.0.0\n"})
    db = tmp_path / "t.db"
    db.write_bytes(synced_db.read_bytes())
    monkeypatch.chdir(repo.root)
    monkeypatch.setenv("TRIAGE_DB", str(db))
    key = "PYSEC-2023-212/urllib3"
    seen: set[str] = set()
    for argv in (
        ["scan"],
        ["diff", "--base", "main"],
        ["audit", "."],
        ["queue"],
        ["show", key],
        ["claim", key, "--as", "alice"],
        ["stats"],
        ["policy", "check"],
        ["issues"],
        ["trust", "check"],
        ["licenses", "check", "--offline"],
        ["db", "status"],
        ["db", "verify"],
        ["db", "sync", "--source", str(REPOSITORY.parent / "shared/data/pypa-advisory-db")],
    ):
        code, out, err = triage(capsys, *argv, "--format", "json")
        assert code in (0, 1), (argv, err)
        document = json.loads(out)
        validate(document)
        seen.add(document["schema"])
    # The organisation audit's JSON is validated by every org test (tests/org_world.py), the
    # witness's predicate by tests/test_witness.py.
    assert seen == {s.value for s in Schema} - {Schema.ORG_AUDIT, Schema.WITNESS}
    assert NOW  # the CLI ran on the tests' fixed clock
