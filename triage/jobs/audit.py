"""The daily audits as scheduled jobs (this repository's, or an organisation's): one audit
per scheduled slot, one log line per run."""

from __future__ import annotations

import datetime as dt
import logging

from msgspec import Struct

from triage.errors import TriageError
from triage.service import Workspace
from triage.service import audit as use_case
from triage.service import org as org_use_case

log = logging.getLogger("triage.jobs")


class AuditJob(Struct, frozen=True):
    """Runs with every option the command was given (root, database, config, trust store,
    settings); deny.toml is read again at each run, so edits apply without a restart."""

    workspace: Workspace

    def __call__(self, scheduled_for: dt.datetime) -> None:
        slot = scheduled_for.isoformat(timespec="seconds")
        try:
            ws = self.workspace.next_run()
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


class OrgAuditJob(Struct, frozen=True):
    """`triage org audit --org ORG` on a schedule, in this process's threads or on the Celery
    workers (`engine`); deny.toml is read again at each run."""

    workspace: Workspace
    org: str
    engine: str = "local"

    def __call__(self, scheduled_for: dt.datetime) -> None:
        slot = scheduled_for.isoformat(timespec="seconds")
        try:
            ws = self.workspace.next_run()
            runner = None
            if self.engine == "celery":
                from triage.jobs.org import celery_engine

                runner = celery_engine(ws.settings)
            report = org_use_case.org_audit(ws, self.org, runner, scheduled_for=scheduled_for)
        except TriageError as exc:
            log.error("org audit of %s for %s failed: %s", self.org, slot, exc.message)
            return
        if report.not_run:
            log.info("org audit of %s for %s skipped: %s", self.org, slot, report.not_run)
            return
        done = ", ".join(f"{what} {n}" for what, n in report.actions.items())
        log.info(
            "org audit run %s of %s for %s: %d repositories audited, %d failing, %d not read; "
            "issues %s",
            report.run,
            self.org,
            slot,
            report.audited,
            len(report.failing),
            len(report.errors),
            done,
        )
        for repository, message in sorted(report.errors.items()):
            log.warning("%s not audited: %s", repository, message)

    def last_success(self) -> dt.datetime | None:
        return org_use_case.last_successful_run(self.workspace, self.org)
