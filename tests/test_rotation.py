"""The rotation's CLI: triage state and SLAs, the queue, show, claim, the ignore ledger edited in
place, policy check's lints, and stats (JSON, text and an HTML page opened in Chromium)."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import multiprocessing
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from tests.browser import pixels_near, screenshot
from tests.conftest import NOW, REPOSITORY, workspace
from tests.github_server import GitHubServer
from tests.test_audit import REPO, local_audit, project, records
from tests.test_cli import run
from triage import config, store
from triage.config import edit
from triage.core import ledger
from triage.core.rotation_report import CHART_COLOUR, HEADER_COLOUR, stats_html
from triage.models import Config, FindingKey, TriageState
from triage.service import audit, rotation, sync
from triage.settings import Settings

COMMENTED = REPOSITORY / "tests" / "fixtures" / "deny-commented.toml"
TODAY = NOW.date()  # the CLI's clock, fixed by conftest's fixed_clock
LOCKED = "urllib3==2.0.0\npillow==9.0.0\n"
URLLIB3_HIGH = "PYSEC-2023-192/urllib3"  # high
URLLIB3_MEDIUM = "PYSEC-2023-212/urllib3"  # medium
PILLOW_KEYS = [  # unknown severity
    "PYSEC-2022-168/pillow",
    "PYSEC-2022-42979/pillow",
    "PYSEC-2023-175/pillow",
    "PYSEC-2023-227/pillow",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def synced(tmp_path: Path, deny: str | None = None, extra: str = "") -> tuple[Path, Path]:
    """A project locking urllib3 and pillow, and a database holding their real advisories."""
    sources = records(tmp_path / "src", ["urllib3", "pillow", "accesscontrol"])
    root = project(tmp_path / "app", sources, LOCKED, extra)
    if deny is not None:
        (root / "deny.toml").write_text(deny)
    db = tmp_path / "t.db"
    sync.sync(workspace(db, NOW), [str(sources)], require_all=True)
    return root, db


def cli(capsys: pytest.CaptureFixture[str], root: Path, db: Path, *argv: str) -> tuple[int, str]:
    code, out, err = run(capsys, *argv, "--db", str(db), "--config", str(root / "deny.toml"))
    return code, out + err


# --- the ledger, edited in place ---------------------------------------------------------------


def test_ignore_then_unignore_leaves_a_commented_deny_toml_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path, COMMENTED.read_text())
    original = (root / "deny.toml").read_bytes()
    expires = (TODAY + dt.timedelta(days=30)).isoformat()
    code, said = cli(
        capsys,
        root,
        db,
        "ignore",
        URLLIB3_HIGH,
        str(root),
        "--reason",
        'only "trusted" redirects',
        "--issue",
        "https://github.com/acme/app/issues/31",
        "--expires",
        expires,
        "--package",
    )
    assert code == 0, said
    after = (root / "deny.toml").read_text()
    changed = list(
        difflib.unified_diff(original.decode().splitlines(), after.splitlines(), n=0, lineterm="")
    )
    assert changed[3:] == [
        '+    { id = "PYSEC-2023-192", package = "urllib3", reason = "only \\"trusted\\" '
        'redirects", issue = "https://github.com/acme/app/issues/31", '
        f"expires = {expires} }},"
    ]
    assert changed[2].startswith("@@ -23,0 +24 @@")  # inside the array, after the last entry
    added = config.load_config(root / "deny.toml", required=True).advisories.ignore[-1]
    assert (added.id, added.package, added.reason) == (
        "PYSEC-2023-192",
        "urllib3",
        'only "trusted" redirects',
    )

    code, said = cli(capsys, root, db, "unignore", "PYSEC-2023-192")
    assert code == 0, said
    assert (root / "deny.toml").read_bytes() == original


def test_a_ledger_in_table_form_and_a_file_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    tables = (
        "[advisories]\nstale-db = 'allow'\n\n[[advisories.ignore]]\n"
        "id = \"GHSA-aaaa-bbbb-cccc\"  # old\nreason = 'x'\n"
        "issue = 'https://github.com/acme/app/issues/1'\n\n[sla]\nlow = 'P9D'\n"
    )
    (root / "deny.toml").write_text(tables)
    arguments = ["--reason", "r", "--issue", "https://github.com/acme/app/issues/2"]
    assert cli(capsys, root, db, "ignore", URLLIB3_MEDIUM, str(root), *arguments)[0] == 0
    text = (root / "deny.toml").read_text()
    assert text.startswith(tables.split("\n[sla]")[0]) and text.endswith("[sla]\nlow = 'P9D'\n")
    assert '[[advisories.ignore]]\nid = "PYSEC-2023-212"' in text
    assert cli(capsys, root, db, "unignore", "PYSEC-2023-212")[0] == 0
    assert (root / "deny.toml").read_text() == tables

    (root / "deny.toml").unlink()
    assert cli(capsys, root, db, "ignore", URLLIB3_MEDIUM, str(root), *arguments)[0] == 0
    default_expiry = TODAY + dt.timedelta(days=ledger.DEFAULT_IGNORE_DAYS)
    rule = config.load_config(root / "deny.toml", required=True).advisories.ignore[0]
    assert (rule.id, rule.package, rule.expires) == ("PYSEC-2023-212", None, default_expiry)


def _add_ignore_in_process(path: str, advisory: str, barrier: Any) -> None:
    def decide(current: Config) -> edit.LedgerEdit:
        import time

        time.sleep(0.3)  # both processes have read the file by now, were there no lock
        return {"id": advisory, "reason": "r", "issue": "https://github.com/acme/app/issues/3"}

    barrier.wait()
    edit.edit_ignores(Path(path), decide)


def test_two_processes_adding_ignores_at_the_same_moment_both_land(tmp_path: Path) -> None:
    deny = tmp_path / "deny.toml"
    shutil.copy(COMMENTED, deny)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_add_ignore_in_process, args=(str(deny), advisory, barrier))
        for advisory in ("PYSEC-2024-1", "PYSEC-2024-2")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [w.exitcode for w in workers] == [0, 0]
    ids = [r.id for r in config.load_config(deny, required=True).advisories.ignore]
    assert ids[:3] == ["PYSEC-2021-335", "GHSA-xxxx-yyyy-zzzz", "PYSEC-2022-168"]
    assert sorted(ids[3:]) == ["PYSEC-2024-1", "PYSEC-2024-2"]


def test_two_cli_processes_ignoring_different_findings_both_land(tmp_path: Path) -> None:
    root, db = synced(tmp_path, COMMENTED.read_text())
    commands = [
        [
            sys.executable,
            "-m",
            "triage",
            "ignore",
            key,
            str(root),
            "--reason",
            "r",
            "--issue",
            "https://github.com/acme/app/issues/4",
            "--db",
            str(db),
            "--config",
            str(root / "deny.toml"),
        ]
        for key in (URLLIB3_HIGH, PILLOW_KEYS[1])
    ]
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    ids = {r.id for r in config.load_config(root / "deny.toml", required=True).advisories.ignore}
    assert {"PYSEC-2023-192", "PYSEC-2022-42979"} <= ids


IGNORE_HIGH = ["ignore", URLLIB3_HIGH, "--reason", "r"]
WITH_ISSUE = [*IGNORE_HIGH, "--issue", "https://x.test/1"]
A_YEAR_AND_MORE = (TODAY + dt.timedelta(days=400)).isoformat()
BAD_INPUT = [
    (["ignore", "not-a-key", "--reason", "r", "--issue", "https://x.test/1"], "not a finding key"),
    (["ignore", "PYSEC-2099-1/urllib3", *WITH_ISSUE[2:]], "no such finding"),
    ([*WITH_ISSUE, "--expires", "31/01/2027"], "is not a date"),
    ([*WITH_ISSUE, "--expires", "2020-01-01"], "is not in the future"),
    ([*WITH_ISSUE, "--expires", A_YEAR_AND_MORE], "more than a year away"),
    ([*IGNORE_HIGH, "--issue", "issue 12"], "is not a URL"),
    (IGNORE_HIGH, "needs a tracking issue"),
    (["ignore", URLLIB3_HIGH, "--reason", " ", "--issue", "https://x.test/1"], "--reason is empty"),
    (["ignore", "PYSEC-2021-335/accesscontrol", *WITH_ISSUE[2:]], "no such finding"),
    ([*IGNORE_HIGH, "--open-issue"], "--open-issue needs GitHub"),
    (["unignore", "PYSEC-2099-1"], "no ignore entry matches"),
    (["unignore", "PYSEC-2021-335/pillow"], "no ignore entry matches"),
    (["claim", "PYSEC-2099-1/urllib3"], "no such finding in the database"),
    (["show", "PYSEC-2099-1/urllib3"], "no such finding"),
    (["show", "PYSEC-2023-192"], "is not a finding key"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT)
def test_bad_input_exits_2_and_leaves_deny_toml_untouched(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    root, db = synced(tmp_path, COMMENTED.read_text())
    original = (root / "deny.toml").read_bytes()
    where = [str(root)] if argv[0] in ("ignore", "show") else []
    code, said = cli(capsys, root, db, argv[0], argv[1], *where, *argv[2:])
    assert code == 2, said
    assert message in said and said.startswith("error: ")
    assert (root / "deny.toml").read_bytes() == original
    left = {p.name for p in root.iterdir() if p.name.startswith(".deny.toml.")}
    assert left <= {".deny.toml.lock"}  # no temporary file left behind


def test_an_ignore_longer_than_a_year_needs_force_and_a_second_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path, COMMENTED.read_text())
    late = (TODAY + dt.timedelta(days=400)).isoformat()
    base = ["ignore", URLLIB3_HIGH, str(root), "--reason", "r", "--issue", "https://x.test/1"]
    assert cli(capsys, root, db, *base, "--expires", late, "--force")[0] == 0
    code, said = cli(capsys, root, db, *base)
    assert code == 2 and "already ignores PYSEC-2023-192" in said


def test_a_deny_toml_that_would_not_validate_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    broken = '[advisories]\nignore = [{ id = "X", expires = "soon" }]\n'
    (root / "deny.toml").write_text(broken)
    args = ["--reason", "r", "--issue", "https://x.test/1"]
    code, said = cli(capsys, root, db, "ignore", URLLIB3_HIGH, str(root), *args)
    assert code == 2 and "advisories.ignore[0].expires" in said
    assert (root / "deny.toml").read_text() == broken


# --- triage state, SLAs, the queue -------------------------------------------------------------

SLA = '\n[sla]\nhigh = "P3D"\nmedium = "P1D"\nunknown = "P10D"\n'


def test_queue_order_and_due_dates_follow_sla_with_an_injected_clock(tmp_path: Path) -> None:
    root, db = synced(tmp_path, extra=SLA)
    local_audit(root, db, NOW)
    due = {str(r.key): r.due for r in rotation.queue(workspace(db, NOW))}
    assert due[URLLIB3_HIGH] == NOW + dt.timedelta(days=3)
    assert due[URLLIB3_MEDIUM] == NOW + dt.timedelta(days=1)
    assert all(due[key] == NOW + dt.timedelta(days=10) for key in PILLOW_KEYS)

    later = NOW + dt.timedelta(days=2)
    order = [str(r.key) for r in rotation.queue(workspace(db, later))]
    assert order == [URLLIB3_MEDIUM, URLLIB3_HIGH, *PILLOW_KEYS]  # medium is overdue
    assert [str(r.key) for r in rotation.queue(workspace(db, later), overdue_only=True)] == [
        URLLIB3_MEDIUM
    ]

    rotation.claim(workspace(db, later), URLLIB3_MEDIUM, "alice")
    four_days = NOW + dt.timedelta(days=4)
    order = [str(r.key) for r in rotation.queue(workspace(db, four_days))]
    assert order == [URLLIB3_HIGH, URLLIB3_MEDIUM, *PILLOW_KEYS]  # claimed: triaged, not late
    mine = rotation.queue(workspace(db, four_days), assignee="alice")
    assert [str(r.key) for r in mine] == [URLLIB3_MEDIUM]
    assert [str(r.key) for r in rotation.queue(workspace(db, four_days), severities=["high"])] == [
        URLLIB3_HIGH
    ]

    cfg = config.load_config(root / "deny.toml", required=True)
    changed = replace(cfg, sla={**cfg.sla, "high": dt.timedelta(days=9)})
    audit.audit(
        workspace(db, four_days, root, given_config=changed),
        lambda d: store.LocalTracker(d, four_days),
    )
    due = {str(r.key): r.due for r in rotation.queue(workspace(db, four_days))}
    assert due[URLLIB3_HIGH] == NOW + dt.timedelta(days=9)  # the SLA as it is now


def test_claim_and_ignore_appear_in_shows_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    local_audit(root, db, NOW)
    assert cli(capsys, root, db, "claim", URLLIB3_MEDIUM, "--as", "alice")[0] == 0
    expires = (TODAY + dt.timedelta(days=20)).isoformat()
    args = ["--reason", "not reachable", "--issue", "https://x.test/a/9", "--expires", expires]
    args += ["--as", "alice"]
    assert cli(capsys, root, db, "ignore", URLLIB3_MEDIUM, str(root), *args, "--package")[0] == 0
    code, out = cli(capsys, root, db, "show", URLLIB3_MEDIUM, str(root), "--format", "json")
    assert code == 0
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["schema"] == "triage/show-v1"
    history = [(h["who"], h["event"], h["state"]) for h in shown["history"]]
    assert history == [
        ("audit", "first-seen", "new"),
        ("alice", "claimed", "claimed"),
        ("alice", "ignored", "ignored"),
    ]
    assert (
        "not reachable" in shown["history"][2]["detail"]
        and expires in shown["history"][2]["detail"]
    )
    assert shown["triage"]["assignee"] == "alice" and shown["triage"]["state"] == "ignored"
    assert shown["ignores"][0]["reason"] == "not reachable"
    assert shown["finding"]["fixed_versions"] == ["1.26.18", "2.0.7"]
    assert set(shown["finding"]["aliases"]) == {"CVE-2023-45803", "GHSA-g4mx-q9vg-27p4"}
    assert shown["advisories"][0]["id"] == "PYSEC-2023-212"
    assert "2.0.7" in shown["suggested_response"]
    assert shown["dependency"] == {"direct": None, "via": []}

    code, out = cli(capsys, root, db, "unignore", "PYSEC-2023-212/urllib3", "--as", "bob")
    assert code == 0
    ws = workspace(db, NOW, root, config_path=root / "deny.toml", config_required=True)
    back = rotation.show(ws, URLLIB3_MEDIUM)
    assert (back.history[-1].who, back.history[-1].event) == ("bob", "unignored")
    assert back.record is not None
    assert back.record.state is TriageState.CLAIMED  # back to its assignee
    by_alias = rotation.show(ws, "CVE-2023-45803/urllib3")
    assert str(by_alias.key) == URLLIB3_MEDIUM and by_alias.history == back.history


def test_the_audit_moves_states_and_the_history_is_append_only(tmp_path: Path) -> None:
    ignore = (
        '\nignore = [{ id = "CVE-2023-45803", reason = "r", issue = "https://x.test/1", '
        "expires = 2026-11-30 }]\n"
    )
    root, db = synced(tmp_path, extra=ignore)
    local_audit(root, db, NOW)
    states = {str(r.key): r.state for r in rotation.queue(workspace(db, NOW))}
    assert URLLIB3_MEDIUM not in states  # ignored: not in the queue
    later = NOW + dt.timedelta(days=10)  # the ignore has expired
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")  # pillow removed
    local_audit(root, db, later)
    opened = store.Database(db)
    try:
        triage_states = store.TriageStore(opened)
        by_key = {str(r.key): r for r in triage_states.records()}
        assert by_key[URLLIB3_MEDIUM].state is TriageState.NEW
        assert all(by_key[k].state is TriageState.FIXED for k in PILLOW_KEYS)
        assert by_key[PILLOW_KEYS[0]].gone_since == later
        events = [
            (c.event, c.state) for c in triage_states.history(FindingKey.parse(URLLIB3_MEDIUM))
        ]
        assert events == [("first-seen", "ignored"), ("ignore-ended", "new")]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            opened.db.execute("update finding_history set who = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            opened.db.execute("delete from finding_history")
    finally:
        opened.close()


def test_queue_text_is_plain_within_80_columns_when_piped_and_styled_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, db = synced(tmp_path)
    local_audit(root, db, NOW)
    rotation.claim(workspace(db, NOW), URLLIB3_HIGH, "a-rather-long-assignee-name")
    args = ["--reason", "r", "--issue", "https://github.com/acme/app/issues/1", "--package"]
    assert cli(capsys, root, db, "ignore", PILLOW_KEYS[0], str(root), *args)[0] == 0
    monkeypatch.setenv("COLUMNS", "80")
    for command in (["queue"], ["show", PILLOW_KEYS[0], str(root)], ["stats"]):
        code, out = cli(capsys, root, db, *command)
        assert code == 0
        assert "\x1b[" not in out and not set(out) & set("│─┃━╇")
        assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
    code, out = cli(capsys, root, db, "queue")
    # Keys stay whole for copying; the long name folds within its column.
    assert re.search(r"^PYSEC-2023-192/urllib3 .* a-rather", out, re.MULTILINE)
    # Due dates are read whole, never cut or folded to fit.
    assert re.search(r"^PYSEC-2023-192/urllib3 .* \d{4}-\d\d-\d\d ", out, re.MULTILINE)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out = cli(capsys, root, db, "queue")
    assert "\x1b[" in out
    assert max(len(ANSI.sub("", line).rstrip()) for line in out.splitlines()) <= 80


# --- GitHub: claim assigns, --open-issue opens -------------------------------------------------


def test_claim_assigns_the_github_issue_only_to_an_assignable_login(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    ws = workspace(
        db, NOW, root, config_path=root / "deny.toml", settings=Settings.from_environment()
    )
    audit.audit(ws, audit.tracker_factory(ws, REPO))
    github.state.assignable.add("octocat")
    issue = next(i for i in github.issues(REPO) if URLLIB3_HIGH in i["body"])
    code, out, _ = run(capsys, "claim", URLLIB3_HIGH, "--as", "octocat", "--db", str(db))
    assert code == 0 and f"assigned {REPO}#{issue['number']} to octocat" in out
    assert issue["assignees"] == [{"login": "octocat"}]
    code, out, _ = run(capsys, "claim", URLLIB3_MEDIUM, "--as", "Alice Smith", "--db", str(db))
    assert code == 0 and "not a GitHub login assignable" in out
    other = next(i for i in github.issues(REPO) if URLLIB3_MEDIUM in i["body"])
    assert other["assignees"] == []
    assert rotation.queue(workspace(db, NOW), assignee="Alice Smith")[0].key == FindingKey.parse(
        URLLIB3_MEDIUM
    )


def test_open_issue_opens_the_tracking_issue_first_or_reuses_it(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    args = ["--reason", "r", "--open-issue", "--package"]
    code, said = cli(capsys, root, db, "ignore", URLLIB3_HIGH, str(root), *args)
    assert code == 0, said
    opened = [i for i in github.issues(REPO) if f"triage:key={URLLIB3_HIGH}" in i["body"]]
    assert len(opened) == 1
    rule = config.load_config(root / "deny.toml", required=True).advisories.ignore[0]
    assert rule.issue == opened[0]["html_url"]
    # The daily audit finds that issue by its marker: no second one.
    ws = workspace(
        db, NOW, root, config_path=root / "deny.toml", settings=Settings.from_environment()
    )
    audit.audit(ws, audit.tracker_factory(ws, REPO))
    assert sum(f"triage:key={URLLIB3_HIGH}" in i["body"] for i in github.issues(REPO)) == 1
    before = len(github.issues(REPO))
    code, said = cli(capsys, root, db, "ignore", PILLOW_KEYS[0], str(root), *args)
    assert code == 0 and len(github.issues(REPO)) == before  # it reused the audit's issue


# --- policy check ------------------------------------------------------------------------------


def _ledger(github: GitHubServer) -> str:
    open_issue = github.add_issue(REPO, "tracking")["html_url"]
    closed_issue = github.add_issue(REPO, "done", closed=True)["html_url"]
    far = (TODAY + dt.timedelta(days=60)).isoformat()
    past = (TODAY - dt.timedelta(days=3)).isoformat()
    soon = (TODAY + dt.timedelta(days=5)).isoformat()
    entries = [
        f'{{ id = "PYSEC-2023-192", issue = "{open_issue}", expires = {far} }}',
        f'{{ id = "PYSEC-2023-212", reason = "r", expires = {far} }}',
        f'{{ id = "PYSEC-2022-168", reason = "r", issue = "{open_issue}", expires = {past} }}',
        f'{{ id = "PYSEC-2022-42979", reason = "r", issue = "{open_issue}", expires = {soon} }}',
        f'{{ id = "PYSEC-2021-335", reason = "r", issue = "{open_issue}", expires = {far} }}',
        f'{{ id = "PYSEC-2099-99999", reason = "r", issue = "{open_issue}", expires = {far} }}',
        f'{{ id = "PYSEC-2023-175", reason = "r", issue = "{closed_issue}", expires = {far} }}',
    ]
    return "\nignore = [\n  " + ",\n  ".join(entries) + ",\n]\n"


EACH_LINT = {
    "ignore-missing-reason": (0, "deny"),
    "ignore-missing-issue": (1, "deny"),
    "ignore-expired": (2, "warn"),
    "ignore-expiring": (3, "warn"),
    "unused-ignored-advisory": (4, "warn"),
    "unknown-advisory": (5, "deny"),
    "ignore-issue-closed": (6, "warn"),
}


def test_policy_check_reports_each_lint_exactly_once_with_its_code(
    github: GitHubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path, extra=_ledger(github))
    code, out = cli(capsys, root, db, "policy", "check", str(root), "--format", "json")
    assert code == 1  # deny-level lints fired
    found = json.loads(out)["diagnostics"]
    assert sorted(d["code"] for d in found) == sorted(EACH_LINT)
    assert {d["code"]: (d["ignore"]["index"], d["level"]) for d in found} == EACH_LINT

    code, out = cli(capsys, root, db, "policy", "check", str(root))
    assert code == 1
    assert "deny[unknown-advisory]: advisories.ignore[5] (PYSEC-2099-99999)" in out
    assert "warn[ignore-issue-closed]" in out and "7 lint(s), 3 at deny level" in out


def test_policy_check_levels_come_from_deny_toml_and_github_is_optional(
    github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    levels = (
        '\n[advisories.lints]\nignore-missing-reason = "warn"\nignore-missing-issue = "warn"\n'
        'unknown-advisory = "allow"\nignore-expiring = "deny"\n'
    )
    root, db = synced(tmp_path, extra=_ledger(github) + levels)
    code, out = cli(capsys, root, db, "policy", "check", str(root), "--format", "json")
    found = {d["code"]: d["level"] for d in json.loads(out)["diagnostics"]}
    assert code == 1 and "unknown-advisory" not in found
    assert found["ignore-expiring"] == "deny" and found["ignore-missing-reason"] == "warn"

    monkeypatch.delenv("GITHUB_TOKEN")
    code, out = cli(capsys, root, db, "policy", "check", str(root), "--format", "json")
    document = json.loads(out)
    assert "ignore-issue-closed" not in {d["code"] for d in document["diagnostics"]}
    assert document["notes"] == ["tracking issues not checked: GITHUB_TOKEN is not set"]

    (root / "deny.toml").write_text('[advisories.lints]\nno-such-lint = "deny"\n')
    code, out = cli(capsys, root, db, "policy", "check", str(root))
    assert code == 2 and "advisories.lints.no-such-lint: unknown key" in out


def test_a_clean_ledger_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    far = (TODAY + dt.timedelta(days=60)).isoformat()
    ledger = (
        f'\nignore = [{{ id = "GHSA-g4mx-q9vg-27p4", reason = "r", '
        f'issue = "https://x.test/1", expires = {far} }}]\n'
    )
    root, db = synced(tmp_path, extra=ledger)
    code, out = cli(capsys, root, db, "policy", "check", str(root))
    assert code == 0 and "the ignore ledger is clean" in out


# --- stats -------------------------------------------------------------------------------------


def _history_over_two_weeks(tmp_path: Path) -> tuple[Path, Path]:
    """Audits on days 0, 2, 5 and 9: pillow is removed on day 5, and urllib3 upgraded on day 9;
    one finding is claimed on day 1 and another on day 3."""
    root, db = synced(tmp_path)
    day = [NOW + dt.timedelta(days=n) for n in range(15)]
    local_audit(root, db, day[0])
    rotation.claim(workspace(db, day[1]), URLLIB3_HIGH, "alice")
    local_audit(root, db, day[2])
    rotation.claim(workspace(db, day[3]), PILLOW_KEYS[0], "bob")
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")
    local_audit(root, db, day[5])
    (root / "requirements.txt").write_text("urllib3==2.0.7\n")
    local_audit(root, db, day[9])
    return root, db


def test_stats_counts_ages_and_median_times(tmp_path: Path) -> None:
    root, db = _history_over_two_weeks(tmp_path)
    at = NOW + dt.timedelta(days=9)
    result = rotation.stats(workspace(db, at), "P90D")
    assert result.open_by_severity == {} and result.overdue == 0
    assert result.triaged == 2 and result.median_days_to_triage == 2.0  # 1 and 3 days
    assert result.fixed == 6 and result.median_days_to_fix == 5.0  # four after 5 days, two after 9
    assert [n for _, n in result.timeline] == [6, 6, 2, 0]
    narrow = rotation.stats(workspace(db, at), "P5D")
    assert (narrow.triaged, narrow.fixed) == (0, 6)

    (root / "requirements.txt").write_text(LOCKED)
    local_audit(root, db, NOW + dt.timedelta(days=40))
    result = rotation.stats(workspace(db, NOW + dt.timedelta(days=49)), "P90D")
    assert result.open_by_state == {"new": 6, "claimed": 0, "ignored": 0}
    assert result.open_by_severity == {"high": 1, "medium": 1, "unknown": 4}
    assert result.ages == {"0-7 days": 0, "8-30 days": 6, "31-90 days": 0, "over 90 days": 0}
    assert result.overdue == 5  # all but medium (P14D), due on day 54


def test_stats_json_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, db = _history_over_two_weeks(tmp_path)
    code, out = cli(capsys, root, db, "stats", "--format", "json", "--window", "P3650D")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "triage/stats-v1"
    assert document["time_to_fix"] == {"count": 6, "median_days": 5.0}
    assert [p["open"] for p in document["open_over_time"]] == [6, 6, 2, 0]
    code, out = cli(capsys, root, db, "stats", "--window", "a month")
    assert code == 2 and "is not an ISO 8601 duration" in out


def test_the_html_report_opens_in_headless_chromium(tmp_path: Path) -> None:
    root, db = _history_over_two_weeks(tmp_path)
    (root / "requirements.txt").write_text(LOCKED)
    local_audit(root, db, NOW + dt.timedelta(days=12))
    page = tmp_path / "stats.html"
    page.write_text(stats_html(rotation.stats(workspace(db, NOW + dt.timedelta(days=12)), "P90D")))
    image = screenshot(page, tmp_path)
    chart = pixels_near(image, CHART_COLOUR)
    headers = pixels_near(image, HEADER_COLOUR)
    assert len(chart) > 500, "the chart's line and points are not on the page"
    assert len(headers) > 3 * 2000, "the three tables' headings are not on the page"
    chart_xs = [x for x, _ in chart]
    assert max(chart_xs) - min(chart_xs) > 400  # a line across the chart, not one dot
    assert max(y for _, y in chart) < min(y for _, y in headers)  # the chart above the tables


def test_queue_json_filters_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    local_audit(root, db, NOW - dt.timedelta(days=30))  # every finding is past its SLA now
    assert cli(capsys, root, db, "claim", PILLOW_KEYS[2], "--as", "alice")[0] == 0
    code, out = cli(capsys, root, db, "queue", "--mine", "--as", "alice", "--format", "json")
    document = json.loads(out[: out.rindex("}") + 1])
    assert code == 0 and document["schema"] == "triage/queue-v1"
    assert [(f["key"], f["assignee"], f["overdue"]) for f in document["findings"]] == [
        (PILLOW_KEYS[2], "alice", False)
    ]
    code, out = cli(
        capsys, root, db, "queue", "--overdue", "--severity", "high", "--format", "json"
    )
    assert [f["key"] for f in json.loads(out[: out.rindex("}") + 1])["findings"]] == [URLLIB3_HIGH]


def test_a_database_from_before_the_triage_state_keeps_its_findings(tmp_path: Path) -> None:
    root, db = synced(tmp_path)
    (root / "requirements.txt").write_text("urllib3==2.0.0\n")
    local_audit(root, db, NOW)
    (root / "requirements.txt").write_text("urllib3==2.0.7\n")
    local_audit(root, db, NOW + dt.timedelta(days=1))
    older = sqlite3.connect(db)  # the findings table as the first audit release made it
    for column in ("state", "assignee", "due"):
        older.execute(f"alter table findings drop column {column}")
    older.execute("update meta set value = '1' where key = 'schema_version'")
    older.commit()
    older.close()
    opened = store.Database(db)
    try:
        records = store.TriageStore(opened).records()
    finally:
        opened.close()
    assert {str(r.key): r.state for r in records} == {
        URLLIB3_HIGH: TriageState.FIXED,
        URLLIB3_MEDIUM: TriageState.FIXED,
    }


def test_show_reads_past_an_undecodable_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    (root / "pyproject.toml").write_bytes(b'[project]\nname = "\xff"\n')
    code, out = cli(capsys, root, db, "show", URLLIB3_HIGH, str(root), "--format", "json")
    assert code == 0 and json.loads(out)["dependency"] == {"direct": None, "via": []}


def test_claim_accepts_any_alias_and_answers_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, db = synced(tmp_path)
    local_audit(root, db, NOW)
    code, out = cli(
        capsys, root, db, "claim", "CVE-2023-45803/urllib3", "--as", "alice", "--format", "json"
    )
    assert code == 0, out
    claimed = json.loads(out[: out.rindex("}") + 1])
    assert claimed["schema"] == "triage/claim-v1"
    assert (claimed["key"], claimed["state"], claimed["assignee"]) == (
        URLLIB3_MEDIUM,
        "claimed",
        "alice",
    )


def test_claim_with_a_refused_token_says_so(
    github: GitHubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, db = synced(tmp_path)
    ws = workspace(
        db, NOW, root, config_path=root / "deny.toml", settings=Settings.from_environment()
    )
    audit.audit(ws, audit.tracker_factory(ws, REPO))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_secret")
    code, out, err = run(capsys, "claim", URLLIB3_HIGH, "--as", "octocat", "--db", str(db))
    assert code == 4 and "401 Bad credentials" in err and "assignable" not in out + err
    assert "ghp_wrong_secret" not in out + err


def test_a_lockfile_named_from_outside_reads_its_includes_in_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], synced_db: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "common.txt").write_text("pillow==9.0.0\n")
    (elsewhere / "requirements.txt").write_text("-r common.txt\nclick==8.1.7\n")
    project = tmp_path / "project"
    project.mkdir()
    code, out, err = run(
        capsys, "scan", str(project), "--lockfile", str(elsewhere / "requirements.txt"),
        "--db", str(synced_db), "--format", "json",
    )  # fmt: skip
    assert code == 1, err
    assert {f["package"] for f in json.loads(out)["findings"]} == {"pillow"}


def test_a_long_key_with_several_versions_cuts_nothing_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys, severities, due dates and issues are read whole, and nothing is broken
    mid-word: versions and names too wide for the row go whole on a line below the key."""
    package = "some-long-package-name"
    sources = tmp_path / "src"
    sources.mkdir()
    record = {
        "id": "GHSA-xxxx-yyyy-zzzz",
        "modified": "2026-11-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {"package": {"ecosystem": "PyPI", "name": package}, "versions": ["1.0.0", "1.0.1"]}
        ],
    }
    (sources / "GHSA-xxxx-yyyy-zzzz.json").write_text(json.dumps(record))
    root = project(tmp_path / "app", sources, f"{package}==1.0.0\n")
    (root / "requirements-dev.txt").write_text(f"{package}==1.0.1\n")
    db = tmp_path / "t.db"
    local_audit(root, db, NOW)
    key = f"GHSA-xxxx-yyyy-zzzz/{package}"
    rotation.claim(workspace(db, NOW), key, "a-rather-long-assignee-name")
    monkeypatch.setenv("COLUMNS", "80")
    code, out = cli(capsys, root, db, "queue")
    assert code == 0 and "…" not in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
    # Too wide for one line: versions and the assignee go whole on a line below the key.
    assert re.search(rf"^{key} +critical +\d{{4}}-\d\d-\d\d ", out, re.MULTILINE), out
    assert "  1.0.0, 1.0.1; assignee a-rather-long-assignee-name" in out
    code, out = cli(capsys, root, db, "show", key, str(root))
    assert code == 0 and "critical" in out and "CVSS:3.1" not in out  # a severity, not a vector


def test_the_queue_never_breaks_a_word_at_80_columns_even_when_late(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header wrapped mid-word (`versio`/`n`) and a long name was broken across lines
    once due dates said `late`: a header stays whole, a row stays one line."""
    import triage.service.workspace

    root, db = synced(tmp_path)
    local_audit(root, db, NOW)
    rotation.claim(workspace(db, NOW), URLLIB3_HIGH, "a-rather-long-assignee-name")
    monkeypatch.setenv("COLUMNS", "80")
    later = NOW + dt.timedelta(days=12)
    monkeypatch.setattr(triage.service.workspace, "utc_now", lambda: later)
    code, out = cli(capsys, root, db, "queue")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "key", "version", "severity", "due", "assignee", "issue",
    ]  # fmt: skip
    assert max(len(line) for line in lines) <= 80
    assert len(lines) == 8  # a header, six findings, the footer: nothing folded
    assert re.search(r"^PYSEC-2022-168/pillow .* 2026-12-01 late ", out, re.MULTILINE)
    assert re.search(r"^PYSEC-2023-192/urllib3 .* a-rather-… ", out, re.MULTILINE)
