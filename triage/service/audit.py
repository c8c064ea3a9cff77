"""The daily audit: sync, scan the default branch, check trust, reconcile tracking issues,
record the run. Safe to kill and re-run at any point; a second audit at once does not run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from msgspec import Struct, field

from triage import store
from triage.core import rotation, tracked, tracking
from triage.core.diagnostics import Diagnostics
from triage.errors import InputError, TriageError
from triage.models import (
    Config,
    FindingKey,
    IndexNote,
    Level,
    LicenseResult,
    ScanResult,
    Status,
    TriageState,
    TrustResult,
    is_repository,
    qualified,
)
from triage.service import index_notes, licenses, scan, sync, trust
from triage.service.workspace import Workspace

if TYPE_CHECKING:
    from triage.core.remedy import PullNote

ACTIONS = ("opened", "commented", "edited", "closed", "reopened")


class AuditReport(Struct):
    skipped: str | None = None  # why nothing ran
    run: int | None = None
    scan: ScanResult | None = None
    sync: sync.SyncReport | None = None
    actions: dict[str, int] = field(default_factory=dict)
    trust: list[TrustResult] = field(default_factory=list)
    licenses: list[LicenseResult] = field(default_factory=list)
    # What the index says of the locked releases: yanked files, adverse project status.
    index_notes: tuple[IndexNote, ...] = ()
    warnings: list[str] = field(default_factory=list)
    open_findings: int | None = None  # findings not fixed after the run
    fix_pulls: tuple[PullNote, ...] = ()  # [fix] open-prs: what was proposed

    @property
    def fails(self) -> bool:
        untrusted = any(item.fails for item in self.trust)
        denied = any(item.level is Level.DENY for item in self.licenses)
        denied = denied or any(note.level is Level.DENY for note in self.index_notes)
        return untrusted or denied or (self.scan is not None and self.scan.fails)


TrackerFactory = Callable[[store.Database], tracking.IssueTracker]


def tracker_factory(ws: Workspace, repository: str | None = None) -> TrackerFactory:
    """GitHub when a token and a repository are known, else the local tracker."""
    if repository is not None and not is_repository(repository):
        raise InputError(f"--repo {repository!r} is not OWNER/NAME", hint="e.g. --repo acme/api")
    repository = repository or ws.config.github.repository
    github = ws.github() if repository else None
    if github is not None and repository:
        from triage.github import GitHubTracker

        labels = ws.config.github.labels
        return lambda db: GitHubTracker(github, repository, labels)
    now = ws.now()
    return lambda db: store.LocalTracker(db, now)


def apply_actions(
    tracker: tracking.IssueTracker,
    actions: Sequence[tracking.Action],
    labels: Sequence[str],
    *,
    counts: dict[str, int],
) -> dict[str, str]:
    """Carry out the actions in order; returns the URL of each newly opened issue by key."""
    opened: dict[str, str] = {}
    opening = [a for a in actions if isinstance(a, tracking.OpenIssue)]
    if opening:
        tracker.ensure_labels(
            list(dict.fromkeys([*labels, *(x for a in opening for x in a.labels)]))
        )
    for action in actions:
        match action:
            case tracking.OpenIssue(key, title, body, own):
                every = list(dict.fromkeys([*labels, *own]))
                opened[key] = tracker.open_issue(key, title, body, labels=every).url
                counts["opened"] += 1
            case tracking.CommentOn(number, text):
                tracker.comment(number, text)
                counts["commented"] += 1
            case tracking.EditBody(number, body):
                tracker.edit_body(number, body)
                counts["edited"] += 1
            case tracking.CloseIssue(number, comment):
                tracker.close(number, comment)
                counts["closed"] += 1
            case tracking.ReopenIssue(number, comment):
                tracker.reopen(number, comment)
                counts["reopened"] += 1
    return opened


class RunEnd(Struct, frozen=True):
    """What a recorded run ends with: the advisory digest, its counts, findings left open."""

    digest: str
    counts: Mapping[str, int]
    open_findings: int | None


@contextmanager
def recorded(ws: Workspace, run: int, ending: Callable[[], RunEnd]) -> Iterator[None]:
    """The run's outcome written when the block ends: `ok`, or `failed: <why>` (raised on);
    `ending` says the rest as it then stands."""
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except TriageError as exc:
        outcome = f"failed: {exc.message}"
        raise
    finally:
        end = ending()
        with ws.database() as db:
            store.AuditStore(db).finish(
                run,
                ws.now(),
                end.digest,
                counts=end.counts,
                outcome=outcome,
                open_findings=end.open_findings,
            )


def audit(
    ws: Workspace,
    tracker_for: TrackerFactory,
    *,
    ref: str | None = None,
    scheduled_for: dt.datetime | None = None,
) -> AuditReport:
    """The daily job. Provenance comes from the cache, and from the settings' PyPI index."""
    with store.audit_lock(ws.db_path) as held:
        if not held:
            return AuditReport(skipped="another audit is running on this database")
        now = ws.now()
        with ws.database() as db:
            runs = store.AuditStore(db)
            if scheduled_for is not None and runs.succeeded_for(scheduled_for):
                slot = store.stamp(scheduled_for)
                return AuditReport(skipped=f"the audit scheduled for {slot} already ran")
            run = runs.start(now, scheduled_for)
        result = AuditReport(run=run, actions=dict.fromkeys(ACTIONS, 0))

        def ending() -> RunEnd:
            digest = result.scan.database.digest if result.scan else ""
            return RunEnd(digest, result.actions, result.open_findings)

        with recorded(ws, run, ending):
            result.sync = sync.sync(ws, ws.config.advisories.sources)
            with ws.database() as db:
                _audit_tracking(ws, db, ref, tracker_for=tracker_for, now=now, result=result)
            if ref is None and ws.config.fix.open_prs:
                _open_fix_prs(ws, result)
        return result


def _open_fix_prs(ws: Workspace, result: AuditReport) -> None:
    """[fix] open-prs: a fix pull request per group for the findings at or above [fix]
    severity. Proposing is not judging: a failure here is said, and the audit's verdict
    stands as its scan made it."""
    from triage.service import fix, fix_pr

    try:
        report = fix_pr.fix_prs(ws, fix.FixRequest(), minimum=ws.config.fix.severity)
    except TriageError as exc:
        result.warnings.append(f"fix pull requests not opened: {exc}")
        return
    result.fix_pulls = report.pulls


def _audit_tracking(
    ws: Workspace,
    db: store.Database,
    ref: str | None,
    *,
    tracker_for: TrackerFactory,
    now: dt.datetime,
    result: AuditReport,
) -> None:
    """Scan and check trust, then bring the tracker in line; `result.actions` tallies what was
    done, even if it fails half-way."""
    if ref is None:
        project = scan.working_tree(ws)
        store_at = trust.TrustStore.folder(ws.trust_dir)
    else:
        from triage import gitrepo
        from triage.service import trees

        # The commit's own trust store judges it, as its own policy does: never the working
        # tree's, which may say anything.
        project, side = scan.at_ref_side(ws, db, ref)
        blobs = gitrepo.read_blobs(ws.root, sorted(set(side.trust.values())))
        store_at = trust.TrustStore.tree(blobs, side.trust, trees.trust_dir_in_repo(ws), label=ref)
    cfg = project.config
    result.scan = scan.assess(db, project, now)
    said = Diagnostics()
    result.trust = trust.judge_packages(
        ws, db, project.packages, config=cfg, store_at=store_at, diagnostics=said
    )
    result.licenses = licenses.judge_packages(ws, project.packages, config=cfg, diagnostics=said)
    result.index_notes = index_notes.notes_for(
        ws, db, project.packages, config=cfg.advisories, diagnostics=said
    )
    if ws.lookups.ended is None:  # every page answered: what scan and show carry from now on
        store.IndexNoteStore(db).replace(result.index_notes, checked=now)
    result.warnings += said.warnings
    wanted, present = goals(result, project)
    tracker = tracker_for(db)
    issues = tracker.tracked_issues()
    opened = apply_actions(
        tracker,
        tracking.reconcile(wanted, present, issues, today=now.date()),
        cfg.github.labels,
        counts=result.actions,
    )
    urls = {key: issue.url for key, issue in issues.items()} | opened
    observe(
        store.TriageStore(db),
        observations(result.scan, urls),
        statuses(result.scan),
        now=now,
        cfg=cfg,
    )
    result.open_findings = sum(
        r.state is not TriageState.FIXED for r in store.TriageStore(db).records()
    )


def goals(
    result: AuditReport, project: scan.Project
) -> tuple[list[tracking.Tracked], list[tracking.Tracked]]:
    """What the tracker should show: the items that want an open issue, and those present
    but not wanting one (ignored, under the threshold)."""
    assert result.scan is not None
    cfg = project.config
    wanted = tracked.untrusted(result.trust, cfg.trust.mode)
    wanted += tracked.disallowed_licenses(result.licenses)
    wanted += tracked.denied_by_index(result.index_notes)
    present: list[tracking.Tracked] = []
    dependencies = project.dependencies()
    for item in result.scan.findings:
        goal = tracked.tracked_finding(item, dependencies)
        (wanted if tracking.wants_issue(item, cfg.advisories) else present).append(goal)
    return wanted, present


def observations(
    result: ScanResult, urls: Mapping[str, str], repository: str | None = None
) -> list[rotation.Observed]:
    """The findings as the rotation records them (keyed within `repository` for an
    organisation's)."""
    found = []
    for i in result.findings:
        key = i.finding.key.within(repository)
        found.append(
            rotation.Observed(
                key=key,
                advisory=i.finding.advisory,
                package=i.finding.package,
                versions=i.finding.versions,
                severity=i.finding.severity.label,
                ignored=i.status is Status.IGNORED,
                issue_url=urls.get(str(key)) or urls.get(str(i.finding.key)),
                malicious=i.finding.malicious,
            )
        )
    return found


def statuses(result: ScanResult, repository: str | None = None) -> dict[FindingKey, str]:
    """The policy status (active, ignored, ignore-expired) of each finding, by key."""
    return {i.finding.key.within(repository): i.status.value for i in result.findings}


def observe(
    states: store.TriageStore,
    observed: Sequence[rotation.Observed],
    seen: Mapping[FindingKey, str],
    *,
    now: dt.datetime,
    cfg: Config,
    repository: str | None = None,
) -> None:
    """Bring the rotation's records in line with what was seen; only records of
    `repository` (this one's, when None) can be marked fixed."""
    under = qualified(repository, "") if repository else None
    known = {
        record.key: record
        for record in states.records(under)
        if record.key.repository == repository
    }
    records, changes = rotation.observe(known, list(observed), now, sla=cfg.sla)
    states.save(records, changes, seen)


def local_issues(ws: Workspace, *, include_closed: bool) -> list[dict[str, object]]:
    with ws.database(existing=True) as db:
        rows = store.LocalTracker(db, ws.now()).all_issues()
    return [
        {"number": r["number"], "key": r["key"], "state": r["state"], "title": r["title"]}
        for r in rows
        if include_closed or r["state"] == "open"
    ]


def last_successful_audit(ws: Workspace) -> dt.datetime | None:
    with ws.database() as db:
        return store.AuditStore(db).last_success()
