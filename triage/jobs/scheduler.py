"""APScheduler (3.x) running the audit on a cron schedule in UTC.

`max_instances=1` and `coalesce` keep one audit at a time and fold a backlog of missed runs
into one; a run late by less than the misfire grace time still happens. At start, a missed
slot (the last successful audit is older than the latest scheduled time) is caught up once.
Each run is identified by its scheduled slot, so a second scheduler on the same database
finds the slot done (or the audit lock held) and does not run it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.base import BaseTrigger

log = logging.getLogger("triage.jobs")
MISFIRE_GRACE_SECONDS = 3600
# How far back to look for the latest scheduled time, widening until one is found.
LOOKBACKS = [
    dt.timedelta(minutes=1),
    dt.timedelta(hours=1),
    dt.timedelta(days=1),
    dt.timedelta(days=8),
    dt.timedelta(days=32),
    dt.timedelta(days=366),
]


def cron_trigger(expression: str) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(expression, timezone=dt.UTC)


def latest_fire_time(trigger: BaseTrigger, now: dt.datetime) -> dt.datetime | None:
    """The most recent time at or before `now` that the trigger fires."""
    for lookback in LOOKBACKS:
        fire = trigger.get_next_fire_time(None, now - lookback)
        if fire is None or fire > now:
            continue
        latest = fire
        while True:
            following = trigger.get_next_fire_time(latest, latest + dt.timedelta(microseconds=1))
            if following is None or following > now:
                return latest  # type: ignore[no-any-return]
            latest = following
    return None


class AuditScheduler:
    def __init__(
        self,
        job: Callable[[dt.datetime], None],
        trigger: BaseTrigger,
        last_success: Callable[[], dt.datetime | None],
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.job = job
        self.trigger = trigger
        self.last_success = last_success
        self.clock = clock
        self._scheduler: BackgroundScheduler | None = None
        self.catching_up: dt.datetime | None = None  # the missed slot start() scheduled again

    def _run_slot(self) -> None:
        now = self.clock()
        self.job(latest_fire_time(self.trigger, now) or now)

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=dt.UTC)
        scheduler.add_job(
            self._run_slot,
            self.trigger,
            id="audit",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
        now = self.clock()
        missed = latest_fire_time(self.trigger, now)
        last = self.last_success()
        if missed is not None and (last is None or last < missed):
            self.catching_up = missed
            log.info("catching up the audit scheduled for %s", missed.isoformat())
            scheduler.add_job(
                self.job,
                "date",
                run_date=now,
                args=[missed],
                id="catch-up",
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None


def run_until_signalled(scheduler: AuditScheduler) -> None:
    """Run until SIGTERM or SIGINT, then let a running audit finish and stop cleanly."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    log.info("scheduler started")
    try:
        stopping.wait()
    finally:
        scheduler.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("scheduler stopped")
