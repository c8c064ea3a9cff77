"""The daily audit as a scheduled job: one audit per scheduled slot, one log line per run."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from triage.errors import TriageError
from triage.service import Workspace
from triage.service import audit as use_case

log = logging.getLogger("triage.jobs")


@dataclass(frozen=True)
class AuditJob:
    """Runs with every option the command was given (root, database, config, trust store,
    settings); deny.toml is read again at each run, so edits apply without a restart."""

    workspace: Workspace

    def __call__(self, scheduled_for: dt.datetime) -> None:
        slot = scheduled_for.isoformat(timespec="seconds")
        try:
            ws = replace(self.workspace, config_required=False)
            report = use_case.audit(ws, use_case.tracker_factory(ws), scheduled_for=scheduled_for)
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
        return use_case.last_successful_audit(self.workspace)
