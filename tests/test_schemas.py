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
    runs = (
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
        ["fix", "--offline"],
        ["db", "status"],
        ["db", "verify"],
        ["db", "sync", "--source", str(REPOSITORY.parent / "shared/data/pypa-advisory-db")],
    )
    offering = _format_choices()
    # Every command that offers JSON is run here in every format it offers (each choice has
    # its renderer), but `org audit` (below) and `pr`, which needs a GitHub: tests/test_pr.py.
    assert {" ".join(a[:2] if a[0] in GROUPS else a[:1]) for a in runs} == {
        name for name, choices in offering.items() if "json" in choices
    } - {"org audit", "pr"}
    for argv in runs:
        name = " ".join(argv[:2] if argv[0] in GROUPS else argv[:1])
        for choice in offering[name]:
            code, out, err = triage(capsys, *argv, "--format", choice)
            assert code in (0, 1) and out.strip(), (argv, choice, err)
            if choice == "json":
                document = json.loads(out)
                validate(document)
                seen.add(document["schema"])
    # The organisation audit's JSON is validated by every org test (tests/org_world.py), the
    # witness's predicate by tests/test_witness.py.
    assert seen == {s.value for s in Schema} - {Schema.ORG_AUDIT, Schema.WITNESS}
    assert NOW  # the CLI ran on the tests' fixed clock


GROUPS = {"db", "licenses", "org", "policy", "trust", "witness"}


def _format_choices() -> dict[str, list[str]]:
    """Each command's --format choices, read from the click application."""
    import click

    from triage.cli.app import cli

    found: dict[str, list[str]] = {}
    context = click.Context(cli)

    def walk(command: click.Command, name: str) -> None:
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(context):
                sub = command.get_command(context, sub_name)
                assert sub is not None
                walk(sub, f"{name} {sub_name}".strip())
            return
        for param in command.params:
            if param.name == "output_format" and isinstance(param.type, click.Choice):
                found[name] = list(param.type.choices)

    walk(cli, "")
    return found


def test_every_format_offered_is_a_known_one_and_an_unknown_one_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from triage.models import Format

    offering = _format_choices()
    assert len(offering) > 20
    assert all(Format(choice) for choices in offering.values() for choice in choices)
    assert offering["sbom"] == ["cyclonedx", "cyclonedx-xml"]
    # Never a fallback to text: click's path and the click-free path of `scan` alike.
    for argv in (["scan", "--format", "yaml"], ["queue", "--format", "markdown"]):
        code, out, err = triage(capsys, *argv)
        assert code == 2 and not out and "Invalid value for '--format'" in err, argv
