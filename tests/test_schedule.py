"""`triage schedule`: a real APScheduler running the audit job; catch-up, no double runs,
clean shutdown on SIGTERM."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from msgspec.structs import replace

from tests.conftest import workspace
from tests.test_audit import project, records
from triage import store
from triage.jobs.audit import AuditJob
from triage.jobs.scheduler import AuditScheduler, cron_trigger, latest_fire_time
from triage.service import Workspace, sync


def runs(db: Path) -> list[dict[str, object]]:
    opened = store.Database(db)
    try:
        return store.AuditStore(opened).runs()
    finally:
        opened.close()


def wait_for(condition: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def real_time(root: Path, db: Path) -> Workspace:
    """The audit's workspace on the real clock: a real scheduler fires on it."""
    return Workspace(
        root=root, db_path=db, config_path=root / "deny.toml", clock=lambda: dt.datetime.now(dt.UTC)
    )


def test_latest_fire_time_with_an_injected_clock() -> None:
    daily = cron_trigger("0 9 * * *")
    at = dt.datetime(2026, 11, 24, 8, 59, tzinfo=dt.UTC)
    assert latest_fire_time(daily, at) == dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    assert latest_fire_time(daily, at.replace(hour=9, minute=0)) == at.replace(hour=9, minute=0)
    monthly = cron_trigger("30 6 1 * *")
    assert latest_fire_time(monthly, at) == dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)


def test_a_missed_run_is_caught_up_once(tmp_path: Path) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    db = tmp_path / "t.db"
    job = AuditJob(real_time(root, db))
    daily = cron_trigger("0 9 * * *")
    missed = latest_fire_time(daily, dt.datetime.now(dt.UTC))
    assert missed is not None
    scheduler = AuditScheduler(job, daily, job.last_success)
    scheduler.start()
    assert scheduler.catching_up == missed
    try:
        wait_for(lambda: db.exists() and any(r["outcome"] == "ok" for r in runs(db)))
    finally:
        scheduler.stop()
    assert [(r["scheduled_for"], r["outcome"]) for r in runs(db)] == [
        (missed.isoformat(timespec="seconds"), "ok")
    ]
    again = AuditScheduler(job, daily, job.last_success)
    again.start()
    again.stop()
    assert again.catching_up is None  # caught up already: nothing more until the next 09:00
    assert len(runs(db)) == 1


def test_two_schedulers_on_one_database_do_not_double_run(tmp_path: Path) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    db = tmp_path / "t.db"
    sync.sync(workspace(db, dt.datetime.now(dt.UTC)), [str(tmp_path / "src")], require_all=True)
    job = AuditJob(real_time(root, db))
    every_second = CronTrigger(second="*", timezone=dt.UTC)
    first = AuditScheduler(job, every_second, job.last_success)
    second = AuditScheduler(job, every_second, job.last_success)
    first.start()
    second.start()

    def slots_done() -> int:
        return len({r["scheduled_for"] for r in runs(db) if r["outcome"] == "ok"})

    try:
        wait_for(lambda: slots_done() >= 3)
    finally:
        first.stop()
        second.stop()
    done = [r["scheduled_for"] for r in runs(db) if r["outcome"] == "ok"]
    assert len(done) >= 3
    assert len(done) == len(set(done))  # never two successful runs for one slot
    assert len(runs(db)) == len(done)  # and no failed or half-finished ones


def schedule_until_the_catch_up_run(root: Path, db: Path, *options: str) -> tuple[int, str]:
    """`triage schedule` in its own process until its catch-up audit is logged (done or
    failed), then SIGTERM; its exit code and log."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    command = [sys.executable, "-m", "triage", "schedule", str(root), "--db", str(db)]
    process = subprocess.Popen(
        [*command, "--config", str(root / "deny.toml"), *options],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "audit run" in line or "audit for" in line:
            break
    process.send_signal(signal.SIGTERM)
    # Read on through the same file object: lines it has buffered already would be
    # lost to communicate(), which reads the pipe beneath it.
    rest = process.stderr.read()
    process.wait(timeout=30)
    return process.returncode, "".join(lines) + rest


def test_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    code, log = schedule_until_the_catch_up_run(root, tmp_path / "t.db")
    assert code == 0, log
    assert "scheduler started" in log and "received SIGTERM, stopping" in log
    assert log.rstrip().endswith("scheduler stopped") and "Traceback" not in log
    assert sum("audit run" in line for line in log.splitlines()) == 1


def test_schedule_passes_its_trust_store_to_the_job(tmp_path: Path) -> None:
    """Every option `triage schedule` accepts reaches the scheduled audit: here a trust store
    outside the project, whose unreadable publishers.toml the catch-up run must report."""
    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "urllib3==2.0.0\n")
    elsewhere = tmp_path / "anchors"
    elsewhere.mkdir()
    (elsewhere / "publishers.toml").write_text("[[publisher]\n")
    code, log = schedule_until_the_catch_up_run(
        root, tmp_path / "t.db", "--trust-store", str(elsewhere)
    )
    assert code == 0, log
    assert f"failed: {elsewhere / 'publishers.toml'}: not valid TOML" in log, log


def test_each_scheduled_run_has_index_lookups_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running scheduler: the index failing during one run ends that run's lookups
    only; the next run asks again (the lookups were the command's, shared by every run)."""
    import json

    from tests.http_stub import serve_get
    from tests.test_trust import lock
    from triage.settings import Settings

    root = project(tmp_path / "app", records(tmp_path / "src", ["urllib3"]), "")
    (root / "requirements.txt").unlink()
    lock(root, ("demo", "1.0", "demo-1.0.tar.gz", "ab" * 32))
    page = {"files": [{"filename": "demo-1.0.tar.gz", "hashes": {"sha256": "ab" * 32}}]}
    down = {"now": True}

    def answer(path: str) -> tuple[int, bytes]:
        return (503, b"") if down["now"] else (200, json.dumps(page).encode())

    with serve_get(answer) as (url, asked):
        monkeypatch.setenv("TRIAGE_PYPI_URL", url)
        ws = replace(real_time(root, tmp_path / "t.db"), settings=Settings.from_environment())
        job = AuditJob(ws)
        first = dt.datetime.now(dt.UTC).replace(microsecond=0)
        job(first)
        assert asked == ["/simple/demo/"]
        down["now"] = False
        job(first + dt.timedelta(seconds=1))  # the next slot
    assert asked == ["/simple/demo/", "/simple/demo/"]
