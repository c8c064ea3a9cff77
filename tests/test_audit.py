"""`triage audit`: tracking issues over their whole lifecycle, on the local tracker and on a
loopback GitHub through PyGithub; crash safety, fault injection, and the audit lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from pathlib import Path

import pytest

from tests.conftest import ADVISORY_DB, ADVISORY_DB_OLD, GITHUB_TOKEN, LOCKFILES, NOW, workspace
from tests.github_server import GitHubServer
from triage import store
from triage.cli import main
from triage.core import tracking
from triage.service import audit, sync

REPO = "acme/app"
TOKEN = GITHUB_TOKEN
FOUR_PACKAGES = "urllib3==2.0.0\npillow==9.0.0\n"
SIX_KEYS = {
    "PYSEC-2022-168/pillow",
    "PYSEC-2022-42979/pillow",
    "PYSEC-2023-175/pillow",
    "PYSEC-2023-227/pillow",
    "PYSEC-2023-192/urllib3",
    "PYSEC-2023-212/urllib3",
}


def project(root: Path, sources: Path, lockfile: str, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(lockfile)
    (root / "deny.toml").write_text(
        f'[advisories]\nsources = ["{sources}"]\nstale-db = "allow"\n{extra}\n'
        f'[github]\nrepository = "{REPO}"\nlabels = ["security", "dependencies"]\n'
    )
    return root


def records(into: Path, packages: list[str], source: Path = ADVISORY_DB) -> Path:
    for name in packages:
        shutil.copytree(source / "vulns" / name, into / "vulns" / name, dirs_exist_ok=True)
    return into


def local_audit(root: Path, db: Path, now: dt.datetime = NOW) -> audit.AuditReport:
    ws = workspace(db, now, root, config_path=root / "deny.toml", config_required=True)
    return audit.audit(ws, lambda d: store.LocalTracker(d, now))


def local_issues(db: Path) -> dict[str, tuple[str, list[str]]]:
    opened = store.Database(db)
    try:
        tracker = store.LocalTracker(opened, NOW)
        return {r["key"]: (r["state"], tracker.comments(r["number"])) for r in tracker.all_issues()}
    finally:
        opened.close()


# --- the local tracker ------------------------------------------------------------------------


def test_lifecycle_on_the_local_tracker(tmp_path: Path) -> None:
    root = project(
        tmp_path / "app", records(tmp_path / "src", ["urllib3", "pillow"]), FOUR_PACKAGES
    )
    db = tmp_path / "t.db"
    first = local_audit(root, db)
    assert first.actions["opened"] == 6 and first.fails
    assert set(local_issues(db)) == SIX_KEYS
    second = local_audit(root, db)
    assert second.actions == dict.fromkeys(second.actions, 0)

    (root / "requirements.txt").write_text("urllib3==2.0.7\npillow==9.0.0\n")
    upgraded = local_audit(root, db)
    assert upgraded.actions["closed"] == 2
    state, comments = local_issues(db)["PYSEC-2023-192/urllib3"]
    assert state == "closed" and "finding is gone" in comments[-1]

    (root / "requirements.txt").write_text(FOUR_PACKAGES)
    back = local_audit(root, db)
    assert back.actions["reopened"] == 2 and back.actions["opened"] == 0
    assert len(local_issues(db)) == 6
    assert all(state == "open" for state, _ in local_issues(db).values())


def test_ignores_expiry_warning_and_expiry(tmp_path: Path) -> None:
    ignore = (
        'ignore = [{{ id = "CVE-2023-43804", reason = "not reachable", '
        'issue = "https://github.com/acme/app/issues/9", expires = {date} }}]'
    )
    sources = records(tmp_path / "src", ["urllib3"])
    root = project(tmp_path / "app", sources, "urllib3==2.0.0\n", ignore.format(date="2026-12-31"))
    db = tmp_path / "t.db"
    local_audit(root, db)
    assert set(local_issues(db)) == {"PYSEC-2023-212/urllib3"}  # the ignored one gets none
    # An issue exists for the ignored finding (opened before the ignore was added).
    project(root, sources, "urllib3==2.0.0\n")
    local_audit(root, db)
    project(root, sources, "urllib3==2.0.0\n", ignore.format(date="2026-11-28"))
    local_audit(root, db)
    warned = local_audit(root, db)  # warned once, not on every run
    state, comments = local_issues(db)["PYSEC-2023-192/urllib3"]
    assert state == "open" and warned.actions["commented"] == 0
    assert sum("expires on 2026-11-28" in c for c in comments) == 1
    later = NOW + dt.timedelta(days=10)
    expired = local_audit(root, db, later)
    assert expired.scan is not None
    statuses = {str(i.finding.key): i.status.value for i in expired.scan.findings}
    assert statuses["PYSEC-2023-192/urllib3"] == "ignore-expired" and expired.fails


def test_issue_body_suggests_a_response_and_the_ignore_line(tmp_path: Path) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    (root / "pyproject.toml").write_text('[project]\nname = "app"\ndependencies = ["urllib3"]\n')
    db = tmp_path / "t.db"
    local_audit(root, db)
    opened = store.Database(db)
    body = store.LocalTracker(opened, NOW).tracked_issues()["PYSEC-2023-192/urllib3"].body
    opened.close()
    assert body.startswith("<!-- triage:key=PYSEC-2023-192/urllib3 -->")
    assert "Direct dependency: update `urllib3` to 2.0.6 or later." in body
    assert "- Dependency: direct" in body and "`requirements.txt`" in body
    assert "triage ignore PYSEC-2023-192/urllib3 --reason" in body


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_after", range(8))
def test_killed_at_any_action_then_rerun_leaves_one_issue_per_key(
    tmp_path: Path, crash_after: int
) -> None:
    root = project(
        tmp_path / "app", records(tmp_path / "src", ["urllib3", "pillow"]), FOUR_PACKAGES
    )
    db = tmp_path / "t.db"
    ws = workspace(db, NOW, root, config_path=root / "deny.toml", config_required=True)
    calls = 0

    class Dying(store.LocalTracker):
        def open_issue(self, *args: object, **kwargs: object) -> tracking.TrackedIssue:
            nonlocal calls
            calls += 1
            if calls > crash_after:
                raise Crash
            return super().open_issue(*args, **kwargs)  # type: ignore[arg-type]

    with contextlib.suppress(Crash):
        audit.audit(ws, lambda d: Dying(d, NOW))
    local_audit(root, db)
    assert set(local_issues(db)) == SIX_KEYS
    opened = store.Database(db)
    found = store.TriageStore(opened).records()
    runs = store.AuditStore(opened).runs()
    opened.close()
    assert {str(f.key) for f in found} == SIX_KEYS and all(f.issue_url for f in found)
    assert runs[-1]["outcome"] == "ok"


def test_a_second_audit_at_once_does_not_run(tmp_path: Path) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    db = tmp_path / "t.db"
    with store.audit_lock(db) as held:
        assert held
        report = local_audit(root, db)
    assert report.skipped == "another audit is running on this database"
    assert local_issues(db) == {}


# --- GitHub -----------------------------------------------------------------------------------


def github_audit(root: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> int:
    code = main(["audit", str(root), "--db", str(db), "--config", str(root / "deny.toml")])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err and "Traceback" not in err
    return code


def keys_on(server: GitHubServer) -> list[str]:
    return sorted(tracking.key_in(i["body"]) or "" for i in server.issues(REPO))


def test_github_lifecycle_and_the_data_moving_on(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "advisories"
    shutil.copytree(ADVISORY_DB_OLD, sources)
    root = project(tmp_path / "app", sources, "")
    (root / "requirements.txt").unlink()
    shutil.copy(LOCKFILES / "lnbits__lnbits__poetry.lock", root / "poetry.lock")
    db = tmp_path / "t.db"
    assert github_audit(root, db, capsys) == 1
    first = keys_on(github)
    assert len(first) == len(set(first)) == 12
    assert {label["name"] for i in github.issues(REPO) for label in i["labels"]} == {
        "security",
        "dependencies",
    }

    requests = len(github.state.requests)
    github_audit(root, db, capsys)
    # Nothing changed: who the token is, one page of one listing, no per-issue fetches, no
    # writes.
    assert github.state.requests[requests:] == [
        ("GET", "/user"),
        ("GET", "/repos/acme/app/issues"),
    ]
    assert keys_on(github) == first

    shutil.rmtree(sources)
    shutil.copytree(ADVISORY_DB, sources)
    github_audit(root, db, capsys)
    added = sorted(set(keys_on(github)) - set(first))
    assert added == ["PYSEC-2024-48/black", "PYSEC-2024-60/idna"]
    for key in added:  # both records were published between the two snapshots
        advisory = key.split("/")[0]
        assert not list(ADVISORY_DB_OLD.rglob(f"{advisory}.yaml"))
        assert list(ADVISORY_DB.rglob(f"{advisory}.yaml"))

    lock = (root / "poetry.lock").read_text()
    (root / "poetry.lock").write_text(
        lock.replace('name = "idna"\nversion = "3.4"', 'name = "idna"\nversion = "3.7"').replace(
            "idna-3.4",
            "idna-3.7",  # its files name the release too
        )
    )
    github_audit(root, db, capsys)
    idna = next(i for i in github.issues(REPO) if "PYSEC-2024-60/idna" in i["body"])
    assert idna["state"] == "closed"
    assert "finding is gone" in github.comments_on(REPO, idna["number"])[-1]["body"]

    (root / "poetry.lock").write_text(lock)
    github_audit(root, db, capsys)
    assert idna["state"] == "open" and len(keys_on(github)) == 14


# A first audit of FOUR_PACKAGES: who the token is, list issues, list labels, create two
# labels, open six issues.
CLEAN_RUN_REQUESTS = 11
FAULTS = ("502", "drop", "drop-after", "secondary")


@pytest.fixture(scope="module")
def fault_sweep_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The project and a database synced for it once; each run of the sweep starts from a copy
    of that database instead of syncing again."""
    base = tmp_path_factory.mktemp("sweep")
    sources = records(base / "src", ["urllib3", "pillow"])
    root = project(base / "app", sources, FOUR_PACKAGES)
    template = base / "template.db"
    sync.sync(workspace(template, NOW), [str(sources)], require_all=True)
    return root, template


def test_a_clean_first_audit_makes_the_requests_the_fault_sweep_covers(
    github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault_sweep_template: tuple[Path, Path],
) -> None:
    root, template = fault_sweep_template
    db = tmp_path / "t.db"
    shutil.copy(template, db)
    assert github_audit(root, db, capsys) == 1
    assert len(github.state.requests) == CLEAN_RUN_REQUESTS
    assert github.waits == []


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("index", range(CLEAN_RUN_REQUESTS))
def test_faults_at_each_api_call_then_a_clean_rerun(
    github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault_sweep_template: tuple[Path, Path],
    index: int,
    kind: str,
) -> None:
    root, template = fault_sweep_template
    db = tmp_path / "t.db"
    shutil.copy(template, db)
    github.fail_request(index, kind)
    github_audit(root, db, capsys)
    assert not github.state.faults  # it was injected
    if kind == "secondary":
        # GitHub's Retry-After (1 s) was waited for, once, before anything else was sent
        assert [round(wait, 1) for wait in github.waits] == [1.0]
    assert github_audit(root, db, capsys) == 1
    assert keys_on(github) == sorted(SIX_KEYS)
    opened = store.Database(db)
    found = store.TriageStore(opened).records()
    opened.close()
    assert {str(f.key) for f in found} == SIX_KEYS
    assert all(f.issue_url for f in found)


def test_a_pull_request_carrying_a_marker_is_not_a_tracking_issue(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    github.add_pull_request(REPO, 1)
    pr = github.state.issues[REPO][1]
    pr["body"] = "<!-- triage:key=PYSEC-2023-192/urllib3 -->"
    pr["labels"] = [{"name": "security"}]
    github_audit(root, tmp_path / "t.db", capsys)
    assert pr["body"] == "<!-- triage:key=PYSEC-2023-192/urllib3 -->"  # left alone
    assert sorted(keys_on(github)) == ["PYSEC-2023-192/urllib3", "PYSEC-2023-212/urllib3"]


def test_an_issue_someone_else_opened_with_a_key_marker_is_not_a_tracking_issue(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    forged = github.add_issue_by(
        "mallory", REPO, "urllib3", "<!-- triage:key=PYSEC-2023-192/urllib3 -->\nnot the bot's"
    )
    forged["labels"] = [{"name": "security"}]
    github_audit(root, tmp_path / "t.db", capsys)
    assert forged["state"] == "open" and forged["body"].endswith("not the bot's")
    ours = [i for i in github.issues(REPO) if i["user"]["login"] == github.login]
    assert sorted(tracking.key_in(i["body"]) or "" for i in ours) == [
        "PYSEC-2023-192/urllib3",
        "PYSEC-2023-212/urllib3",
    ]


def test_audit_of_a_ref_and_the_cli_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.gitrepos import GitRepo

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    sources = records(tmp_path / "src", ["urllib3"])
    repo = GitRepo(tmp_path / "app")
    project(repo.root, sources, "urllib3==2.0.0\n")
    repo.commit("vulnerable")
    (repo.root / "requirements.txt").write_text("urllib3==2.0.7\n")  # not committed
    db = tmp_path / "t.db"
    args = ["audit", str(repo.root), "--db", str(db), "--config", str(repo.root / "deny.toml")]
    assert main([*args, "--ref", "HEAD"]) == 1  # the committed, vulnerable tree
    assert "1 package(s) in 1 lockfile(s)" in capsys.readouterr().out
    assert main(args) == 0  # the working tree: fixed
    capsys.readouterr()
    assert main(["issues", "--all", "--db", str(db)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == [
        "#1    closed PYSEC-2023-192: urllib3 2.0.0",
        "#2    closed PYSEC-2023-212: urllib3 2.0.0",
    ]
    with store.audit_lock(db):
        assert main(args) == 0
    assert "audit skipped: another audit is running" in capsys.readouterr().err


def test_an_audit_of_a_ref_applies_the_policy_committed_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config names deny.toml by a path inside the repository (absolute or not); at a ref
    the policy committed there is read, never silently the defaults."""
    from tests.gitrepos import GitRepo

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo = GitRepo(tmp_path / "app")
    project(repo.root, records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    deny = repo.root / "deny.toml"
    deny.write_text(
        deny.read_text().replace(
            "[advisories]\n", '[advisories]\nseverity-threshold = "critical"\n'
        )
    )
    repo.commit("accept below critical")
    args = ["audit", str(repo.root), "--db", str(tmp_path / "t.db"), "--config", str(deny)]
    assert main([*args, "--ref", "HEAD"]) == 0
    assert "0 failing the policy" in capsys.readouterr().out
