"""The daily audit as a scheduled job: one audit per scheduled slot, one log line per run."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from triage import service
from triage.errors import TriageError

log = logging.getLogger("triage.jobs")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AuditJob:
    root: Path
    db: Path
    config: Path

    def __call__(self, scheduled_for: dt.datetime) -> None:
        slot = scheduled_for.isoformat(timespec="seconds")
        try:
            cfg = service.load_config(self.config, required=False)
            factory = service.tracker_factory(
                cfg.github.repository, cfg.github.labels, os.environ, _now()
            )
            report = service.audit(
                self.root,
                self.db,
                cfg,
                factory,
                _now,
                scheduled_for=slot,
                pypi_index=os.environ.get("TRIAGE_PYPI_URL") or service.DEFAULT_PYPI,
            )
        except TriageError as exc:
            log.error("audit for %s failed: %s", slot, exc.message)
            return
        if report.skipped or report.scan is None:
            log.info("audit for %s skipped: %s", slot, report.skipped)
            return
        failing = sum(1 for f in report.scan.findings if f.fails)
        done = ", ".join(f"{what} {n}" for what, n in report.actions.items())
        log.info(
            "audit run %s for %s: %d finding(s), %d failing; issues %s",
            report.run,
            slot,
            len(report.scan.findings),
            failing,
            done,
        )

    def last_success(self) -> dt.datetime | None:
        return service.last_successful_audit(self.db)
