"""The organisation audit's coordinator: list the repositories, hand one task per repository
to an engine (threads here, Celery workers through triage.jobs.org), then, alone, write what
came back: the memory of each repository, the rotation's records and the tracking issues.

A repository that could not be read keeps its records and issues as they were and is
reported; the run does not pass."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field
from msgspec.structs import replace

from triage import store
from triage.core import rotation, tracking
from triage.errors import InputError, TriageError
from triage.github.org import OrgReader
from triage.github.session import Budget, LocalBudget, turn_wait
from triage.models import TriageState, qualified, split_qualified
from triage.service import audit, sync
from triage.service.org_plan import default_policy_text, plan, select, wants_reconciling
from triage.service.org_task import (
    Context,
    JudgedTrust,
    RepoOutcome,
    goals_digest,
    outcome_from,
    outcome_json,
    run,
    task_from,
)
from triage.service.workspace import Workspace
from triage.settings import DEFAULT_DB, Settings

if TYPE_CHECKING:
    from triage.github import GitHub

# What triage.jobs.org uses from here (it reaches the GitHub edge only through this module).
__all__ = [
    "Budget",
    "Engine",
    "OrgReport",
    "in_process_engine",
    "org_audit",
    "turn_wait",
    "worker_agent",
    "worker_context",
]


class Engine(Struct, frozen=True):
    """Who reads the repositories (`run`: task payloads in, outcome payloads out), and the
    token's budget they spend, which the coordinator's listing and issue writes spend too: a
    rate limit met by any of them pauses them all."""

    run: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    budget: Budget


REPO_LABEL_PREFIX = "repo:"


class OrgReport(Struct):
    org: str
    listed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why -> how many
    audited: int = 0
    unchanged_trees: int = 0
    reconciled: int = 0  # repositories whose issues were brought in line
    errors: dict[str, str] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)
    findings: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(audit.ACTIONS, 0))
    requests: int = 0  # sent to read the organisation (the listing and every task)
    refused: int = 0  # of them, refused for a rate limit
    warnings: list[str] = field(default_factory=list)
    run: int = 0  # its id among the recorded runs
    digest: str = ""  # the advisory database's it was judged with
    not_run: str | None = None  # why a scheduled run did nothing

    @property
    def exit_code(self) -> int:
        for code in (4, 3, 2):
            if code in self.exit_codes.values():
                return code
        return 1 if self.failing or self.errors else 0


def reader_for(settings: Settings, budget: Budget, agent: str = "") -> OrgReader:
    token = settings.github_token
    if not token:
        raise InputError(
            "GITHUB_TOKEN is not set",
            hint="export a token that can read the organisation's repositories and write issues",
        )
    _, pace = settings.github_timing()
    return OrgReader(token, settings.github_api(), budget, pace=pace, agent=agent)


def in_process_engine(ws: Workspace, budget: Budget, digest: str, *, concurrency: int) -> Engine:
    """Repositories read `concurrency` at a time by threads of this process, each with its
    own read-only connection to the advisory database."""
    local = threading.local()
    contexts: list[Context] = []
    lock = threading.Lock()
    readings: dict[str, str] = {}
    blobs: dict[str, bytes] = {}
    judged = JudgedTrust()
    cache_path = ws.db_path.with_name("worker-cache.db")
    store.Database(cache_path).close()  # created and migrated once, before the threads

    def context() -> Context:
        if not hasattr(local, "context"):
            local.context = Context(
                reader_for(ws.settings, budget),
                store.Database(ws.db_path, read_only=True),
                digest,
                store.Database(cache_path, threads=True),
                ws.settings,
                readings,
                blobs,
                judged,
            )
            with lock:
                contexts.append(local.context)
        found: Context = local.context
        return found

    def engine(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                return list(pool.map(lambda t: outcome_json(run(task_from(t), context())), tasks))
        finally:
            for ctx in contexts:
                ctx.advisories.close()
                ctx.cache.close()

    return Engine(engine, budget)


def last_successful_run(ws: Workspace, org: str) -> dt.datetime | None:
    with ws.database() as db:
        return store.AuditStore(db).last_success(org)


def org_audit(
    ws: Workspace,
    org: str,
    engine: Engine | None = None,
    *,
    full: bool = False,
    scheduled_for: dt.datetime | None = None,
) -> OrgReport:
    """The organisation's repositories read and judged by `engine` (threads by default), then
    the shared state written here, once, by this one coordinator; the run is recorded (for
    `stats --org` and the scheduler, which skips a slot already done)."""
    rotation.check_org_name(org)
    report = OrgReport(org)
    with store.audit_lock(ws.db_path) as held:
        if not held:
            raise InputError(
                f"{ws.db_path}: another audit is running on this database",
                hint="one coordinator writes an organisation's state; wait for it to finish",
            )
        with ws.database() as db:
            runs = store.AuditStore(db)
            if scheduled_for is not None and runs.succeeded_for(scheduled_for, org):
                report.not_run = f"the run scheduled for {store.stamp(scheduled_for)} already ran"
                return report
            report.run = runs.start(ws.now(), scheduled_for, org)

        def ending() -> audit.RunEnd:
            with ws.database() as db:
                records = store.TriageStore(db).records(f"{org}/")
            still_open = sum(r.state is not TriageState.FIXED for r in records)
            counts = {**report.actions, "audited": report.audited, "errors": len(report.errors)}
            return audit.RunEnd(report.digest, counts, still_open)

        with audit.recorded(ws, report.run, ending):
            _audit(ws, org, engine, full=full, report=report)
    return report


def _audit(
    ws: Workspace, org: str, engine: Engine | None, *, full: bool, report: OrgReport
) -> None:
    sync.sync(ws, ws.config.advisories.sources)
    now = ws.now()
    with ws.database() as db:
        digest = report.digest = store.AdvisoryStore(db).content_digest()
        memories = store.OrgStore(db).memories(org)
    policy = default_policy_text(ws)
    shared = engine.budget if engine is not None else LocalBudget()
    reader = reader_for(ws.settings, shared)
    chosen, report.skipped = select(reader.repositories(org), ws.config.org)
    report.listed = len(chosen) + sum(report.skipped.values())
    common = {"digest": digest, "now": now.isoformat(), "default_policy": policy}
    with ws.database() as db:
        tasks = plan(chosen, memories, db, common=common)
    if engine is None:
        engine = in_process_engine(ws, shared, digest, concurrency=ws.config.org.concurrency)
    outcomes = [outcome_from(o) for o in engine.run(tasks)]
    report.requests = reader.counts.requests + sum(o.requests for o in outcomes)
    report.refused = reader.counts.refused + sum(o.refused for o in outcomes)
    _write(ws, org, outcomes, memories=memories, report=report, full=full, shared=shared)


def _write(
    ws: Workspace,
    org: str,
    outcomes: Sequence[RepoOutcome],
    *,
    memories: Mapping[str, store.RepoMemory],
    report: OrgReport,
    full: bool,
    shared: Budget,
) -> None:
    now = ws.now()
    due: list[RepoOutcome] = []
    with ws.database() as db, db.transaction():
        orgs, caches = store.OrgStore(db), store.Caches(db)
        for outcome in outcomes:
            memory = memories.get(outcome.repository)
            kept = {b: base64.b64decode(d) for b, d in outcome.blobs.items()}
            orgs.keep_blobs(kept)
            for key, reading in outcome.readings.items():
                caches.cache_lockfile(key, reading)
            if outcome.error is not None:
                report.errors[outcome.repository] = outcome.error
                report.exit_codes[outcome.repository] = outcome.exit_code
                # The tree read stays remembered (an unchanged broken repository costs a 304
                # too); its records and issues are left as they were.
                failed = memory or store.RepoMemory(outcome.repository, branch=outcome.branch)
                if outcome.etag is not None and outcome.entries is not None:
                    failed = replace(
                        failed,
                        etag=outcome.etag,
                        entries=[(e[0], e[1], e[2]) for e in outcome.entries],
                    )
                orgs.remember(org, replace(failed, goals="", error=outcome.error), store.stamp(now))
                continue
            report.audited += 1
            report.unchanged_trees += outcome.entries is None
            report.findings += len(outcome.observed)
            report.warnings += [f"{outcome.repository}: {w}" for w in outcome.warnings]
            if outcome.fails:
                report.failing.append(outcome.repository)
            if wants_reconciling(outcome, memory, full):
                due.append(outcome)
            entries = outcome.entries
            if entries is None and memory is not None:
                entries = [list(e) for e in memory.entries or []]
            orgs.remember(
                org,
                store.RepoMemory(
                    outcome.repository,
                    branch=outcome.branch,
                    etag=outcome.etag,
                    entries=[(e[0], e[1], e[2]) for e in entries or []],
                    read=outcome.read,
                    goals=memory.goals if memory else "",
                ),
                store.stamp(now),
            )
    urls = _reconcile(ws, due, report, shared=shared)
    reconciled = {outcome.repository for outcome in due}
    with ws.database() as db:
        states = store.TriageStore(db)
        orgs = store.OrgStore(db)
        remembered = orgs.memories(org)
        for outcome in outcomes:
            if outcome.error is not None:
                continue
            repository = outcome.repository
            observed = [
                replace(
                    o,
                    key=o.key.within(repository),
                    issue_url=urls.get(str(o.key.within(repository))),
                )
                for o in outcome.observed
            ]
            seen = {k.within(repository): v for k, v in outcome.statuses.items()}
            audit.observe(states, observed, seen, now=now, cfg=ws.config, repository=repository)
            if outcome.repository in reconciled and outcome.repository not in report.errors:
                memory = remembered[outcome.repository]
                orgs.remember(org, replace(memory, goals=goals_digest(outcome)), store.stamp(now))


def _reconcile(
    ws: Workspace, due: Sequence[RepoOutcome], report: OrgReport, *, shared: Budget
) -> dict[str, str]:
    """Bring each due repository's issues in line (in it, or in the central repository);
    returns the issue URL of every tracked key, prefixed by its repository. The writes spend
    the budget the readers spent."""
    if not due:
        return {}
    github = ws.github(required=True, shared=shared)
    assert github is not None
    try:
        return _reconcile_with(ws, github, due, report=report)
    finally:
        report.requests += github.counts.requests
        report.refused += github.counts.refused


def _reconcile_with(
    ws: Workspace, github: GitHub, due: Sequence[RepoOutcome], *, report: OrgReport
) -> dict[str, str]:
    from triage.github import GitHubTracker

    central = ws.config.org.central
    labels = list(ws.config.github.labels)
    urls: dict[str, str] = {}
    central_issues: dict[str, tracking.TrackedIssue] | None = None
    today = ws.now().date()
    for outcome in due:
        repository = outcome.repository
        wanted, present = outcome.wanted, outcome.present
        try:
            if central is None:
                own = outcome.labels
                tracker = GitHubTracker(github, outcome.repository, own)
                issues = tracker.tracked_issues()
                actions = tracking.reconcile(wanted, present, issues, today=today)
                opened = audit.apply_actions(tracker, actions, own, counts=report.actions)
                for key, issue in issues.items():
                    urls[qualified(repository, key)] = issue.url
                urls.update({qualified(repository, k): u for k, u in opened.items()})
                report.reconciled += 1
                continue
            tracker = GitHubTracker(github, central, labels)
            if central_issues is None:
                central_issues = tracker.tracked_issues()
            mine = {k: v for k, v in central_issues.items() if _repository_of(k) == repository}
            actions = tracking.reconcile(
                [_central(t, outcome.repository) for t in wanted],
                [_central(t, outcome.repository) for t in present],
                mine,
                today=today,
            )
            name = outcome.repository.split("/", 1)[1]
            opened = audit.apply_actions(
                tracker, actions, [*labels, REPO_LABEL_PREFIX + name], counts=report.actions
            )
            urls.update({k: i.url for k, i in mine.items()} | opened)
            report.reconciled += 1
        except TriageError as exc:
            report.errors[outcome.repository] = exc.message
            report.exit_codes[outcome.repository] = exc.exit_code
    return urls


def _central(item: tracking.Tracked, repository: str) -> tracking.Tracked:
    """An item as the central repository tracks it: keyed and titled by its repository."""
    return tracking.rekeyed(item, qualified(repository, item.key), f"[{repository}] {item.title}")


def _repository_of(key: str) -> str | None:
    """The repository a central issue's key names; a marker naming none (or not a
    repository) is nobody's."""
    try:
        return split_qualified(key)[0]
    except TriageError:
        return None


def worker_context(settings: Settings, budget: Budget, agent: str) -> Context:
    """What a worker process holds: its read-only, digest-pinned copy of the advisory
    database (TRIAGE_DB), a cache of its own beside it, and a reader spending `budget`."""
    path = settings.db_path or DEFAULT_DB  # a worker has no repository: TRIAGE_DB names it
    advisories = store.Database(path, read_only=True)
    digest = store.AdvisoryStore(advisories).content_digest()
    cache = _open_cache(path.with_name("worker-cache.db"))
    return Context(reader_for(settings, budget, agent), advisories, digest, cache, settings)


def worker_agent() -> str:
    from triage.github.org import worker_agent as agent

    return agent()


def _open_cache(path: Path) -> store.Database:
    """A cache that workers starting together may each try to create: one wins the
    migration, the others wait for it."""
    import time

    from triage.errors import DatabaseError

    for attempt in range(1, 20):
        try:
            return store.Database(path)
        except DatabaseError:
            time.sleep(0.1 * attempt)
    return store.Database(path)
