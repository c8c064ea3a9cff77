"""`triage fix --pr` and the daily audit's `[fix] open-prs`: per `[fix] group` (a package, or a
finding), the plans made from the files as they are, checked by a re-scan of the files they
would write (in memory: nothing is written locally), then one pull request on the repository
of `[github] repository`, found again by its group's marker."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from msgspec.structs import replace

from triage import store
from triage.core import report
from triage.core.remedy import FixReport, Plan, PlanState, PullNote
from triage.errors import InputError
from triage.models import AssessedFinding, FixGroup, Package, Severity
from triage.service import fix, fix_plans, scan
from triage.service.workspace import Workspace

if TYPE_CHECKING:
    from triage.github import GitHub


def groups(items: Sequence[AssessedFinding], how: FixGroup) -> dict[str, list[AssessedFinding]]:
    found: dict[str, list[AssessedFinding]] = {}
    for item in items:
        name = item.finding.package if how is FixGroup.PACKAGE else str(item.finding.key)
        found.setdefault(name, []).append(item)
    return found


def _branch(group: str, plan_id: str) -> str:
    slug = re.sub(r"[^a-z0-9.]+", "-", group.lower()).strip("-.")[:60] or "group"
    return f"triage/fix/{slug}-{plan_id[:12]}"


def fix_prs(
    ws: Workspace, request: fix.FixRequest, *, minimum: Severity | None = None
) -> FixReport:
    """Open or update one fix pull request per group whose plans are ready; `minimum`: only
    findings at or above that severity (the daily audit's `[fix] severity`)."""
    repository = ws.config.github.repository
    if repository is None:
        raise InputError(
            f"{ws.config.path}: [github] repository is not set: --pr has nowhere to open",
            hint='add [github] repository = "OWNER/NAME" to deny.toml',
        )
    github = ws.github(required=True)
    assert github is not None
    result, project = scan.scan_project(ws)
    unknown = ws.config.advisories.unknown_severity  # what the policy takes an unknown one for

    def severity(item: AssessedFinding) -> Severity:
        found = item.finding.severity
        return unknown if found is Severity.UNKNOWN else found

    asked = [
        i
        for i in fix.chosen(result.findings, request.keys)
        if minimum is None or severity(i).value >= minimum.value
    ]
    before = fix.found_in(result)
    plans: list[Plan] = []
    notes: list[PullNote] = []
    urls: dict[str, str] = {}  # finding key -> its fix pull request
    names = sorted({i.finding.package for i in asked})
    with fix.planner(ws, project, names) as planning:
        for group, items in sorted(groups(asked, ws.config.fix.group).items()):
            draft = fix_plans.Draft()
            made = planning.plan(draft, fix.pairs(items), request)
            note = _pull_request(
                planning, draft, (github, repository), group=group, items=items, made=made,
                before=before,
            )  # fmt: skip
            if note is not None:
                notes.append(note)
                if note.action == "not-opened":
                    made = [_not_opened(p, note.reason) for p in made]
                elif note.url is not None:
                    urls.update((k, note.url) for p in made for k in p.findings)
            plans += made
    fix.remember(ws, plans, urls)
    return FixReport(tuple(plans), len(asked), False, None, fix.not_checked(ws), tuple(notes))


def _pull_request(
    planning: fix.Planner,
    draft: fix_plans.Draft,
    where: tuple[GitHub, str],
    *,
    group: str,
    items: Sequence[AssessedFinding],
    made: Sequence[Plan],
    before: fix.Found,
) -> PullNote | None:
    """The group's pull request, when its plans are ready and the re-scan of what they would
    write agrees; None when there is nothing to propose."""
    from triage.github import pulls

    ready = [p for p in made if p.state is PlanState.READY]
    changed = draft.changed()
    if not ready or not changed:
        return None
    meant = {(k, p.lockfile) for p in ready for k in p.findings}
    problem = _rescan(planning, draft, before=before, meant=meant)
    if problem is not None:
        return PullNote(group, "not-opened", None, None, reason=problem)
    root = planning.ws.root.resolve()
    files = {
        path.resolve().relative_to(root).as_posix(): text.encode() for path, text in changed.items()
    }
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    plan_id = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    markers = (report.FIX_MARKER.format(group), report.PLAN_MARKER.format(plan_id))
    body = report.pr_body(
        ready,
        _fixed(planning.db, items, ready),
        verdict=f"{len({k for k, _ in meant})} finding(s) gone, none new",
        markers=markers,
    )
    change = pulls.FixChange(
        branch=_branch(group, plan_id),
        title=report.pr_title(ready),
        body=body,
        marker=markers[0],
        plan_marker=markers[1],
        files=files,
    )
    github, repository = where
    opened = pulls.publish(github, repository, change)
    return PullNote(group, opened.action, opened.number, opened.url, opened.superseded)


def _not_opened(plan: Plan, why: str) -> Plan:
    if plan.state is not PlanState.READY:
        return plan
    return replace(plan, state=PlanState.BLOCKED, reason=f"not opened: {why}")


def _rescan(
    planning: fix.Planner, draft: fix_plans.Draft, *, before: fix.Found, meant: fix.Found
) -> str | None:
    """The findings of every lockfile as the draft leaves it (in memory): None when the ones
    meant to go are gone and nothing new came, else what disagrees."""
    ws, project = planning.ws, planning.project
    now: fix.Found = set()
    for read in project.read:
        path = scan.lockfile_path(ws, read.path)
        if path in draft.changed():
            packages: Sequence[Package] = fix_plans.read_packages(
                draft.texts[path], path, read.path, kind=fix.kind_of(read.path), root=ws.root
            )
        else:
            packages = [p for p in project.packages if p.lockfile == read.path]
        now |= {(str(key), read.path) for key in planning.keys_of(packages)}
    return fix.disagreement(now, before=before, meant=meant)


def _fixed(
    db: store.Database, items: Sequence[AssessedFinding], ready: Sequence[Plan]
) -> list[report.FixedFinding]:
    """The findings the plans fix, each with its tracking issue's number when it has one."""
    from triage.github import issue_reference

    keys = {k for p in ready for k in p.findings}
    records = store.TriageStore(db)
    found = []
    for item in sorted(
        {i.finding.key: i for i in items}.values(), key=lambda i: str(i.finding.key)
    ):
        if str(item.finding.key) not in keys:
            continue
        record = records.record(item.finding.key)
        reference = issue_reference(record.issue_url) if record and record.issue_url else None
        found.append(
            report.FixedFinding(
                str(item.finding.key),
                item.finding.advisory,
                item.finding.severity.label,
                reference[1] if reference else None,
            )
        )
    return found
