"""The rotation's backlog: queue, show, claim, stats."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct
from msgspec.structs import replace

from triage import store
from triage.config import parse_duration
from triage.core import policy, rotation, rotation_report
from triage.errors import InputError
from triage.models import FindingKey, IndexNote, Level, TriageRecord, TriageState
from triage.service.scan import UNSEALED_NOTES, scan_project
from triage.service.workspace import Workspace

# For the command line, which reaches the core's rules only through the service.
check_org_name = rotation.check_org_name


def queue(
    ws: Workspace,
    *,
    assignee: str | None = None,
    overdue_only: bool = False,
    severities: Sequence[str] = (),
    org: str | None = None,
) -> list[TriageRecord]:
    """The backlog of this repository, or with `org` of every repository of that
    organisation (records keyed OWNER/REPO:KEY by `triage org audit`)."""
    if org is not None:
        rotation.check_org_name(org)
    with ws.database(existing=True) as db:
        every = store.TriageStore(db).records(f"{org}/" if org else None)
    records = every if org else [r for r in every if r.key.repository is None]
    return rotation.queue(
        records, ws.now(), assignee=assignee, overdue_only=overdue_only, severities=severities
    )


def recorded_index(ws: Workspace) -> tuple[tuple[IndexNote, ...], tuple[str, ...]]:
    """What the last audit found the index saying of this repository's locked releases (no
    request is made), judged by this policy: beside the queue, for what is not a finding;
    and a warning when the kept notes cannot be believed."""
    with ws.database(existing=True) as db:
        kept = store.IndexNoteStore(db).recorded()
    config = ws.config.advisories
    judged = (replace(n, level=policy.index_level(n.kind, config)) for n in kept.notes)
    warnings = (UNSEALED_NOTES,) if kept.broken else ()
    return tuple(n for n in judged if n.level is not Level.ALLOW), warnings


def find(ws: Workspace, key: FindingKey) -> rotation_report.FindingDetails:
    """Look the key up in the database and in a scan of the working tree (an alias of the
    advisory finds it too); a key neither knows is bad input."""
    ws.require_database()
    result, project = scan_project(ws)
    scanned = next(
        (
            item
            for item in result.findings
            if item.finding.package == key.package and key.advisory in item.finding.all_ids()
        ),
        None,
    )
    if scanned is not None:
        key = scanned.finding.key
    with ws.database(existing=True) as db:
        states = store.TriageStore(db)
        record = states.record(key)
        history = states.history(key)
        candidates, groups = store.AdvisoryStore(db).candidates([key.package])
        fix = store.FixPlanStore(db).note(key)
    if scanned is None and record is None:
        raise InputError(
            f"{key}: no such finding in the database or in the lockfiles under {ws.root}",
            hint="`triage queue` lists the findings the audit recorded, `triage scan` those "
            "of the working tree; copy a key from there",
        )
    ids = scanned.finding.all_ids() if scanned else frozenset({key.advisory})
    advisories = [
        a
        for a in candidates
        if a.id in ids or (a.id in groups and groups[a.id].preferred == key.advisory)
    ]
    dependency = project.dependencies().get(key.package) if scanned is not None else None
    group_ids = ids | {a.id for a in advisories} | {x for a in advisories for x in a.aliases}
    applying = [
        rule
        for rule in project.config.advisories.ignore
        if rule.id in group_ids and rule.package in (None, key.package)
    ]
    notes = tuple(n for n in result.index_notes if n.package == key.package)
    return rotation_report.FindingDetails(
        key, record, history, scanned, dependency, advisories, applying, fix, notes
    )


def show(ws: Workspace, key: str) -> rotation_report.FindingDetails:
    parsed = FindingKey.parse(key)
    if parsed.repository is not None:
        return _find_recorded(ws, parsed)
    return find(ws, parsed)


def _find_recorded(ws: Workspace, key: FindingKey) -> rotation_report.FindingDetails:
    """An organisation audit's finding: what the audit recorded (its repository's lockfiles
    are on GitHub, not here), and the advisories of its group."""
    assert key.repository is not None
    with ws.database(existing=True) as db:
        recorded = _recorded_key(db, key)
        states = store.TriageStore(db)
        record = states.record(recorded)
        if record is None:
            raise InputError(
                f"{key}: no such finding in the database",
                hint=f"`triage queue --org {key.repository.split('/')[0]}` lists the findings "
                "`triage org audit` recorded; copy a key from there",
            )
        candidates, groups = store.AdvisoryStore(db).candidates([key.package])
        history = states.history(recorded)
    advisories = [
        a
        for a in candidates
        if a.id == record.advisory or (a.id in groups and groups[a.id].preferred == record.advisory)
    ]
    return rotation_report.FindingDetails(record.key, record, history, None, None, advisories, [])


class ClaimResult(Struct, frozen=True):
    record: TriageRecord
    github: str  # what happened on GitHub, for the user


def claim(ws: Workspace, key: str, assignee: str | None = None) -> ClaimResult:
    """Assign a recorded finding (to `assignee`, else whoever runs the command); its GitHub
    tracking issue too when the assignee is a login GitHub lets be assigned there."""
    parsed = FindingKey.parse(key)
    who = assignee if assignee is not None else ws.settings.user
    if not who.strip():
        raise InputError("--as is empty", hint="name who takes the finding, e.g. --as octocat")
    with ws.database(existing=True) as db:
        states = store.TriageStore(db)
        finding_key = _recorded_key(db, parsed)
        record = states.record(finding_key)
        if record is None:
            raise InputError(
                f"{finding_key}: no such finding in the database",
                hint="`triage queue` lists the findings the daily audit recorded",
            )
        if record.state is TriageState.FIXED:
            raise InputError(f"{finding_key} is fixed; there is nothing to claim")
        outcome = _assign_on_github(ws, record, who)
        claimed, change = rotation.claim(record, who, who, now=ws.now())
        states.save([claimed], [change])
    return ClaimResult(claimed, outcome)


def _recorded_key(db: store.Database, key: FindingKey) -> FindingKey:
    """The key a finding is recorded under, for a key naming any alias of its advisory
    (`CVE-2023-45803/urllib3` finds `PYSEC-2023-212/urllib3`), as `show` accepts."""
    candidates, groups = store.AdvisoryStore(db).candidates([key.package])
    for advisory in candidates:
        if key.advisory == advisory.id or key.advisory in advisory.aliases:
            group = groups.get(advisory.id)
            preferred = group.preferred if group else advisory.id
            return FindingKey(preferred, key.package, key.repository)
    return key


def _assign_on_github(ws: Workspace, record: TriageRecord, login: str) -> str:
    from triage.github import GitHubTracker, issue_reference

    reference = issue_reference(record.issue_url or "")
    github = ws.github() if reference is not None else None
    if github is None or reference is None:
        return "no GitHub tracking issue"
    repository, number = reference
    if GitHubTracker(github, repository, ()).assign(number, login):
        return f"assigned {repository}#{number} to {login}"
    return f"{login} is not a GitHub login assignable in {repository}; assigned here only"


def stats(ws: Workspace, window: str, org: str | None = None) -> rotation.Stats:
    """This repository's statistics, or with `org` those of every repository of that
    organisation (with its runs' open findings over time)."""
    span = parse_duration(window)
    if span is None:
        raise InputError(f"--window {window!r} is not an ISO 8601 duration", hint='e.g. "P30D"')
    if org is not None:
        rotation.check_org_name(org)
    with ws.database(existing=True) as db:
        states = store.TriageStore(db)
        if org is not None:
            under = f"{org}/"
            return rotation.stats(
                states.records(under),
                states.history(under=under),
                store.AuditStore(db).open_over_time(org),
                now=ws.now(),
                window=span,
                scope=org,
            )
        return rotation.stats(
            [r for r in states.records() if r.key.repository is None],
            [c for c in states.history() if c.key.repository is None],
            store.AuditStore(db).open_over_time(),
            now=ws.now(),
            window=span,
        )
