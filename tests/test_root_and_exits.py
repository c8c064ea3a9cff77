"""One root, and exit codes as the README gives them (issue 21): the policy, trust store and
database are the repository root's from any subfolder; nothing is written anywhere else; a
missing database is exit 3 for a command that only reads; a bug is exit 5, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ADVISORY_DB
from tests.gitrepos import GitRepo
from tests.test_fail_closed import triage
from triage.cli import main
from triage.service import scan as scan_use_case

IGNORE = (
    '[advisories]\nignore = [{ id = "PYSEC-2023-212", reason = "not reachable", '
    'issue = "https://github.com/acme/app/issues/1" }]\n'
)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "app",
        {"requirements.txt": "urllib3==2.0.0\n", "deny.toml": IGNORE, "svc/app.py": ""},
    )
    return repo


def statuses(out: str) -> dict[str, str]:
    return {f["key"]: f["status"] for f in json.loads(out)["findings"]}


def test_a_scan_from_a_subfolder_judges_with_the_roots_policy_and_database(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.root)
    code, at_root, _ = triage(capsys, "scan", "--format", "json")
    monkeypatch.chdir(repo.root / "svc")
    code_below, below, err = triage(capsys, "scan", "--format", "json")
    assert code == code_below == 1, err
    assert (
        statuses(below)
        == statuses(at_root)
        == {
            "PYSEC-2023-192/urllib3": "active",
            "PYSEC-2023-212/urllib3": "ignored",
        }
    )
    # One database, the root's; nothing written in the folder the command ran in.
    assert (repo.root / ".triage" / "triage.db").is_file()
    assert not (repo.root / "svc" / ".triage").exists()
    # The click path (any other command) finds the same root.
    code, _out, _ = triage(capsys, "policy", "check", "--format", "json")
    assert code in (0, 1) and not (repo.root / "svc" / ".triage").exists()


def test_witness_verify_of_another_repository_uses_that_repositorys_policy_and_database(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(repo.root)
    assert triage(capsys, "scan", "--witness", "w.json")[0] == 1
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    verify = ["witness", "verify", str(repo.root / "w.json"), "--repo", str(repo.root)]
    code, out, err = triage(capsys, *verify, "--allow-unsigned")
    assert code == 0, out + err
    assert not (elsewhere / ".triage").exists() and list(elsewhere.iterdir()) == []


def test_a_command_that_only_reads_never_creates_a_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.db"
    for command in (["db", "status"], ["queue"], ["stats"], ["issues"]):
        code, _out, err = triage(capsys, *command, "--db", str(missing))
        assert code == 3 and f"{missing}: no advisory database here" in err, (command, err)
        assert "fix: run `triage db sync` first" in err
    assert not missing.exists()


def test_a_database_in_a_folder_that_does_not_exist_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nowhere = tmp_path / "no" / "such" / "dir" / "x.db"
    code, _, err = triage(capsys, "db", "sync", "--source", str(ADVISORY_DB), "--db", str(nowhere))
    assert code == 2 and f"the folder {nowhere.parent} does not exist" in err
    assert not (tmp_path / "no").exists()


def test_editing_the_ledger_leaves_no_lock_file_behind(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.root)
    assert triage(capsys, "scan")[0] == 1
    ignore = ["ignore", "PYSEC-2023-192/urllib3", "--reason", "r", "--issue", "https://x/1"]
    code, _, err = triage(capsys, *ignore)
    assert code == 0, err
    assert "PYSEC-2023-192" in (repo.root / "deny.toml").read_text()
    # The database's folder ignores itself; nothing else is left beside deny.toml.
    assert repo.git("status", "--porcelain") == "M deny.toml"
    assert sorted(p.name for p in repo.root.iterdir()) == [
        ".git",
        ".triage",
        "deny.toml",
        "requirements.txt",
        "svc",
    ]


def test_an_unreachable_source_makes_db_sync_exit_4_saying_what_was_not_synced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "deny.toml"
    config.write_text('[advisories]\nsources = ["http://127.0.0.1:9/all.zip"]\n')
    db = tmp_path / "t.db"
    code, out, err = triage(capsys, "db", "sync", "--config", str(config), "--db", str(db))
    assert code == 4, err
    assert "error: 1 of 1 source(s) not synced (exit 4)" in err
    assert "loaded the embedded offline snapshot" in err  # an empty database still gets data
    assert "synced 0 of 1 source(s)" in out


def test_a_bug_is_one_line_and_exit_5_with_the_traceback_only_with_v(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.root)

    def broken(*args: object) -> object:
        raise RuntimeError("something triage did not foresee")

    monkeypatch.setattr(scan_use_case, "scan_project", broken)
    # The click-free scan, and the click application (--witness takes that path).
    for argv in (["scan"], ["scan", "--format", "json"], ["scan", "--witness", "w.json"]):
        code, out, err = triage(capsys, *argv)
        assert code == 5 and not out, argv
        assert err.count("\n") == 1 and err.startswith("internal error: RuntimeError: something")
    code = __import__("triage.cli").cli.main(["scan", "-v"])
    err = capsys.readouterr().err
    assert code == 5 and "Traceback (most recent call last)" in err


def test_org_audit_help_gives_the_exit_codes_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = triage(capsys, "org", "audit", "--help")
    assert code == 0
    assert "makes it 2 (its files), 3 (the advisory data) or 4 (GitHub" in " ".join(out.split())


def test_version_reads_as_click_would_print_it(capsys: pytest.CaptureFixture[str]) -> None:
    """`triage --version` answers before the application loads; the words are click's."""
    from triage import __version__
    from triage.cli.app import run
    from triage.settings import Settings

    assert main(["--version"]) == 0
    quick = capsys.readouterr().out
    assert run(["--version"], Settings.from_environment()) == 0
    assert quick == capsys.readouterr().out == f"triage, version {__version__}\n"


def test_the_token_and_the_brokers_password_are_in_no_repr(tmp_path: Path) -> None:
    """A repr is what a traceback, a log line or a debugger shows of the settings and of
    every workspace carrying them: the token and the broker's URL are left out of it."""
    from triage.cli.entry import build_workspace
    from triage.settings import Settings

    settings = Settings.from_environment(
        {"GITHUB_TOKEN": "ghp_secret123", "TRIAGE_BROKER_URL": "redis://:hunter2@broker/0"}
    )
    workspace = build_workspace(settings, db=tmp_path / "t.db", config=None, trust_store=None)
    for shown in (repr(settings), repr(workspace)):
        assert "ghp_secret123" not in shown and "hunter2" not in shown
        assert "github_api_url='https://api.github.com'" in shown
    assert settings.github_token == "ghp_secret123"
