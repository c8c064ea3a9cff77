"""`triage pr` against a loopback GitHub, through the real PyGithub client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GITHUB_TOKEN
from tests.github_server import GitHubServer
from tests.gitrepos import GitRepo
from tests.schemas import validate
from triage.cli import main

REPO = "acme/app"
TOKEN = GITHUB_TOKEN


@pytest.fixture
def github(github: GitHubServer) -> GitHubServer:
    """The loopback GitHub with pull request #7 open."""
    github.add_pull_request(REPO, 7)
    return github


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "urllib3==2.0.7\n"})
    repo.branch("feature")
    repo.commit("add pillow", {"requirements.txt": "urllib3==2.0.7\npillow==9.0.0\n"})
    return repo


def pr_args(repo: GitRepo, db: Path, number: int = 7) -> list[str]:
    return [
        "pr",
        str(repo.root),
        "--repo",
        REPO,
        "--pr",
        str(number),
        "--base",
        "main",
        "--db",
        str(db),
    ]


def run_pr(
    capsys: pytest.CaptureFixture[str], repo: GitRepo, db: Path, *more: str
) -> tuple[int, str, str]:
    code = main([*pr_args(repo, db), *more])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err and "Traceback" not in err
    return code, out, err


def test_one_comment_created_then_left_alone_then_edited_on_push(
    github: GitHubServer, repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_pr(capsys, repo, synced_db)
    assert code == 1 and "comment created" in err
    (comment,) = github.comments_on(REPO, 7)
    assert comment["body"].startswith("<!-- triage:pr-comment -->")
    assert "PYSEC-2023-175" in comment["body"] and "**Gate: failing**" in comment["body"]
    assert 'triage ignore PYSEC-2022-168/pillow --reason "' in comment["body"]

    writes_before = len(github.writes())
    code, out, err = run_pr(capsys, repo, synced_db, "--format", "json")
    assert "comment unchanged" in err and len(github.writes()) == writes_before
    validate(json.loads(out))  # the diff's report, as `diff --format json` gives it
    assert len(github.comments_on(REPO, 7)) == 1

    repo.commit("upgrade pillow", {"requirements.txt": "urllib3==2.0.7\npillow==10.3.0\n"})
    code, _, err = run_pr(capsys, repo, synced_db)
    assert code == 0 and "comment updated" in err
    (edited,) = github.comments_on(REPO, 7)
    assert edited["id"] == comment["id"] and "**Gate: passing**" in edited["body"]


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", r"/issues/7/comments$", "502"),
        ("POST", r"/issues/7/comments$", "drop"),
        ("POST", r"/issues/7/comments$", "drop-after"),  # created, then the connection died
        ("POST", r"/issues/7/comments$", "secondary"),
        ("GET", r"/issues/7/comments$", "502"),
        ("GET", r"/issues/7/comments$", "drop"),
        ("GET", r"/issues/7/comments$", "secondary"),
    ],
)
def test_faults_mid_run_are_retried_and_leave_one_comment(
    github: GitHubServer,
    repo: GitRepo,
    synced_db: Path,
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    kind: str,
) -> None:
    github.fail(method, path, kind)
    code, _, err = run_pr(capsys, repo, synced_db)
    assert code == 1, err
    assert len(github.comments_on(REPO, 7)) == 1
    assert not github.state.faults  # the fault really happened


def test_an_edit_interrupted_is_retried(
    github: GitHubServer, repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_pr(capsys, repo, synced_db)
    repo.commit("upgrade pillow", {"requirements.txt": "urllib3==2.0.7\npillow==10.3.0\n"})
    github.fail("PATCH", r"/issues/comments/\d+$", "drop")
    github.fail("PATCH", r"/issues/comments/\d+$", "502")
    code, _, err = run_pr(capsys, repo, synced_db)
    assert code == 0 and "comment updated" in err
    (comment,) = github.comments_on(REPO, 7)
    assert "**Gate: passing**" in comment["body"]


def test_github_staying_down_is_exit_4_without_the_token(
    github: GitHubServer, repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(40):
        github.fail("GET", r"/issues/7/comments$", "502")
    code, _, err = run_pr(capsys, repo, synced_db)
    assert code == 4 and "GitHub did not answer" in err
    assert github.comments_on(REPO, 7) == []


def test_bad_credentials_and_missing_pull_request_are_exit_4(
    github: GitHubServer,
    repo: GitRepo,
    synced_db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = main(pr_args(repo, synced_db, number=8))
    assert code == 4 and "404 Not Found" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_secret")
    code = main(pr_args(repo, synced_db))
    err = capsys.readouterr().err
    assert code == 4 and "401 Bad credentials" in err and "ghp_wrong_secret" not in err


def test_a_failed_run_posts_nothing(
    github: GitHubServer, repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.commit("broken policy", {"deny.toml": "[advisories]\nstale-db = 'sometimes'\n"})
    code, out, err = run_pr(capsys, repo, synced_db)
    assert code == 2 and "HEAD:deny.toml" in err and "advisories.stale-db" in err
    assert github.writes() == [] and out == ""


def test_pr_comment_flags_policy_changes(
    github: GitHubServer, tmp_path: Path, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", {"requirements.txt": "urllib3==1.26.18\n"})
    repo.branch("feature")
    repo.commit(
        "bump, ignore, trust",
        {
            "requirements.txt": "urllib3==2.0.0\n",
            "deny.toml": '[advisories]\nignore = [{ id = "PYSEC-2023-192", reason = "not used", '
            'issue = "https://github.com/acme/app/issues/3", expires = 2099-01-01 }]\n',
            "trust-store/keys/release.pub": "key\n",
        },
    )
    code, _, _ = run_pr(capsys, repo, synced_db)
    (comment,) = github.comments_on(REPO, 7)
    body = comment["body"]
    assert code == 1
    assert "### Policy changes — flagged for review" in body
    assert "- ignore added: `PYSEC-2023-192` for every package: not used" in body
    assert "- trust store changed: `trust-store/keys/release.pub`" in body
    assert "**suppressed by this PR — needs review**: `PYSEC-2023-192/urllib3`" in body


def test_pr_without_a_token_is_exit_2(
    repo: GitRepo,
    synced_db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    code = main(pr_args(repo, synced_db))
    assert code == 2 and "GITHUB_TOKEN is not set" in capsys.readouterr().err


def test_a_comment_someone_else_wrote_with_the_marker_is_never_touched(
    github: GitHubServer, repo: GitRepo, synced_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quoting the bot's marker does not make a comment the bot's: it is neither edited nor
    deleted, and the bot keeps its own."""
    quoted = "As the bot said:\n<!-- triage:pr-comment -->\nlooks fine to me"
    theirs = github.add_comment_by("mallory", REPO, 7, quoted)
    for _ in range(2):
        code, _, err = run_pr(capsys, repo, synced_db)
        assert code == 1, err
    comments = github.comments_on(REPO, 7)
    assert theirs in comments and theirs["body"] == quoted
    ours = [c for c in comments if c["user"]["login"] == github.login]
    assert len(ours) == 1 and "pillow" in ours[0]["body"]
