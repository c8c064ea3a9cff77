"""`triage fix`: for each active finding of the working tree, the smallest upgrade that removes
it without bringing another advisory, checked by uv (building forbidden); with --apply, written
in place and re-scanned, and everything written is put back when the re-scan disagrees."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from msgspec import Struct
from msgspec.structs import replace

from triage import lockfiles, resolver, store
from triage.config.edit import write_text
from triage.core import policy, remedy
from triage.core.matching import version_order
from triage.core.remedy import FixReport, Plan, PlanState, Strategy
from triage.errors import InputError, LockfileError, TriageError, UpstreamError
from triage.models import (
    Affected,
    AssessedFinding,
    FindingKey,
    FixNote,
    Package,
    ScanResult,
    Status,
)
from triage.service import fetching, fix_plans, pages, scan
from triage.service.workspace import Workspace


class FixRequest(Struct, frozen=True):
    keys: tuple[str, ...] = ()  # finding keys or advisory ids; empty: every active finding
    apply: bool = False
    strategy: Strategy = Strategy.IN_PLACE


def chosen(findings: Sequence[AssessedFinding], keys: Sequence[str]) -> list[AssessedFinding]:
    """The active findings `keys` name (a finding key, or any id of its advisory); every one
    when there are none. A key that names no active finding is bad input."""
    active = [f for f in findings if f.status is not Status.IGNORED]
    if not keys:
        return active
    picked: dict[FindingKey, AssessedFinding] = {}
    for key in keys:
        hits = [f for f in active if key == str(f.finding.key) or key in f.finding.all_ids()]
        if not hits:
            raise InputError(
                f"{key}: no active finding has this key or advisory id",
                hint="`triage scan` lists the active findings with their keys",
            )
        picked.update((f.finding.key, f) for f in hits)
    return list(picked.values())


Pairs = dict[tuple[str, str], list[AssessedFinding]]  # (lockfile, package) -> its findings


def pairs(items: Sequence[AssessedFinding]) -> Pairs:
    """The findings by the lockfile and package a fix moves."""
    found: Pairs = {}
    for item in items:
        for lockfile in item.finding.lockfiles:
            found.setdefault((lockfile, item.finding.package), []).append(item)
    return found


class Planner(Struct, frozen=True):
    """What planning reads once a run: the index's releases, every record's entries, the
    database (to match what a resolution would lock)."""

    ws: Workspace
    project: scan.Project
    db: store.Database
    answers: dict[str, pages.Answer]
    entries: dict[str, list[Affected]]

    def keys_of(self, packages: Sequence[Package]) -> set[FindingKey]:
        return {f.key for f in scan.match(self.db, packages)[0].findings}

    def plan(self, draft: fix_plans.Draft, found: Pairs, request: FixRequest) -> list[Plan]:
        """A plan per (lockfile, package), each from the files the ones before it leave; the
        run's progress shows them (uv may take seconds over each)."""
        plans: list[Plan] = []
        tick = fetching.phase(self.ws.progress, "fix: plans", len(found))
        for (shown, name), items in sorted(found.items()):
            # Told again while uv works on this plan: a long resolution is said, not silent.
            waiting = functools.partial(tick, len(plans)) if tick is not None else None
            plans.append(
                _plan(
                    self.ws,
                    draft,
                    shown,
                    name=name,
                    locked=_current(self.ws, draft, shown, scanned=self.project.packages),
                    keys=tuple(sorted({i.finding.key for i in items}, key=str)),
                    malicious=any(i.finding.malicious for i in items),
                    page=self.answers.get(name),
                    entries=self.entries.get(name, []),
                    request=request,
                    keys_of=self.keys_of,
                    waiting=waiting,
                )
            )
            if tick is not None:
                tick(len(plans))
        return plans


@contextmanager
def planner(ws: Workspace, project: scan.Project, names: Sequence[str]) -> Iterator[Planner]:
    with ws.database() as db:
        caches = store.Caches(db)
        answers = pages.or_kept(ws, caches, pages.project_pages(ws, caches, names, purpose="fix"))
        yield Planner(ws, project, db, answers, _entries(db, names))


def not_checked(ws: Workspace) -> str | None:
    """Why the index was not asked: the run's lookups ended, or --offline."""
    return ws.lookups.ended or (fetching.OFFLINE if ws.settings.offline else None)


def fix(ws: Workspace, request: FixRequest) -> FixReport:
    result, project = scan.scan_project(ws)
    asked = chosen(result.findings, request.keys)
    before = found_in(result)
    found = pairs(asked)
    draft = fix_plans.Draft()
    with planner(ws, project, sorted({name for _, name in found})) as planning:
        plans = planning.plan(draft, found, request)
    rescan = None
    if request.apply:
        plans, rescan = _apply(ws, draft, plans, before=before)
    remember(ws, plans)
    return FixReport(tuple(plans), len(asked), request.apply, rescan, not_checked(ws))


def remember(ws: Workspace, plans: Sequence[Plan], pulls: Mapping[str, str] | None = None) -> None:
    """Each finding's plan for `triage show` (`pulls`: its pull request's URL, by key)."""
    from triage.core.report import plan_line

    notes = [
        FixNote(FindingKey.parse(key), plan_line(p), str(p.state), (pulls or {}).get(key), ws.now())
        for p in plans
        for key in p.findings
    ]
    with ws.database() as db:
        store.FixPlanStore(db).save(notes)


def kind_of(shown: str) -> lockfiles.FormatId:
    kind = lockfiles.lockfile_format(PurePosixPath(shown))
    return kind.id if kind is not None else lockfiles.FormatId.REQUIREMENTS


def _current(
    ws: Workspace, draft: fix_plans.Draft, shown: str, *, scanned: Sequence[Package]
) -> tuple[Package, ...]:
    """The lockfile's packages as the plans so far leave it: each plans from the last."""
    path = scan.lockfile_path(ws, shown)
    if path in draft.changed():
        return fix_plans.read_packages(
            draft.texts[path], path, shown, kind=kind_of(shown), root=ws.root
        )
    return tuple(p for p in scanned if p.lockfile == shown)


def _entries(db: store.Database, names: Sequence[str]) -> dict[str, list[Affected]]:
    """Every live record's affected entries for each package: a target must be free of all
    of them, not only of the finding's."""
    records, _ = store.AdvisoryStore(db).candidates(names)
    found: dict[str, list[Affected]] = {}
    for record in records:
        if record.withdrawn is None:
            for entry in record.affected:
                found.setdefault(entry.package, []).append(entry)
    return found


def _index(ws: Workspace, waiting: Callable[[], None] | None) -> resolver.Index:
    timeout, _ = ws.settings.index_timing()
    return resolver.Index(
        simple_url=f"{ws.settings.pypi_url.rstrip('/')}/simple",
        cache=ws.db_path.parent / "uv-cache",
        offline=ws.settings.offline,
        timeout=timeout,
        waiting=waiting,
    )


def _plan(
    ws: Workspace,
    draft: fix_plans.Draft,
    shown: str,
    *,
    name: str,
    locked: tuple[Package, ...],
    keys: tuple[FindingKey, ...],
    malicious: bool,
    page: pages.Answer | None,
    entries: list[Affected],
    request: FixRequest,
    keys_of: fix_plans.KeysOf,
    waiting: Callable[[], None] | None,
) -> Plan:
    versions = [p for p in locked if p.name == name]
    if not versions:
        return Plan(shown, name, "", PlanState.READY, "the plans above remove it", _texts(keys))
    package = min(versions, key=lambda p: version_order(p.version))
    releases = (
        remedy.releases_from_files(
            {n: (f.sha256, f.yanked is not None) for n, f in page.files.items()}
        )
        if page is not None and not isinstance(page, UpstreamError)
        else {}
    )
    targets = remedy.fixing_targets(package.version, releases, entries)
    ask = fix_plans.Ask(
        lockfile=scan.lockfile_path(ws, shown),
        shown=shown,
        package=package,
        locked=locked,
        findings=keys,
        targets=targets.fixing,
        skipped=targets.yanked,
        releases=releases,
        strategy=request.strategy,
        index=_index(ws, waiting),
        keys_of=keys_of,
    )
    if malicious:
        return ask.plan(PlanState.BLOCKED, f"malware: {policy.malware_response(package.name)}")
    if not keys_of(locked) & set(keys):
        return ask.plan(
            PlanState.READY,
            f"the plans above already move it to {package.version}",
            after=package.version,
        )
    if isinstance(page, UpstreamError) or page is None:
        why = page if page is not None else "not asked"
        return ask.plan(PlanState.BLOCKED, f"not planned: the index's releases are unknown ({why})")
    kind_id = kind_of(shown)
    try:
        if kind_id is lockfiles.FormatId.UV:
            return fix_plans.plan_uv_lock(ask, draft, ws.root)
        if kind_id is lockfiles.FormatId.REQUIREMENTS:
            return fix_plans.plan_requirements(ask, draft, ws.root)
        return fix_plans.plan_other(ask, kind_id)
    except LockfileError as exc:  # a file it would edit does not read: this plan only
        return ask.plan(PlanState.BLOCKED, f"not planned: {exc}")


def _texts(keys: Sequence[FindingKey]) -> tuple[str, ...]:
    return tuple(str(k) for k in keys)


Found = set[tuple[str, str]]  # (finding key, lockfile): a finding where it is locked


def found_in(result: ScanResult) -> Found:
    return {(str(f.finding.key), lf) for f in result.findings for lf in f.finding.lockfiles}


def disagreement(now: Found, *, before: Found, meant: Found) -> str | None:
    """What a re-scan says against the plans: a finding still in the lockfile a plan meant to
    remove it from, or one that was not there before; None when it agrees."""
    left = sorted(f"{key} in {lockfile}" for key, lockfile in meant & now)
    new = sorted(f"{key} in {lockfile}" for key, lockfile in now - before)
    if not left and not new:
        return None
    words = [f"still found: {', '.join(left)}"] if left else []
    return "; ".join([*words, *([f"new: {', '.join(new)}"] if new else [])])


def _apply(
    ws: Workspace, draft: fix_plans.Draft, plans: list[Plan], *, before: Found
) -> tuple[list[Plan], str | None]:
    """Write every ready plan, re-scan, and keep the writes only when the findings they meant
    to remove are gone and nothing new appeared; else (or on any failure on the way) put every
    file back as it was."""
    changed = draft.changed()
    ready = [p for p in plans if p.state is PlanState.READY]
    if not changed or not ready:
        return plans, None
    meant = {(k, p.lockfile) for p in ready for k in p.findings}
    try:
        for path, text in changed.items():
            write_text(path, text)
        result, _ = scan.scan_project(ws)
    except TriageError as exc:
        return _rolled_back(draft, changed, plans, why=f"the re-scan failed: {exc}")
    except BaseException:
        _restore(draft, changed)
        raise
    problem = disagreement(found_in(result), before=before, meant=meant)
    if problem is not None:
        return _rolled_back(draft, changed, plans, why=problem)
    applied = [
        replace(p, state=PlanState.APPLIED) if p.state is PlanState.READY else p for p in plans
    ]
    failing = sum(1 for f in result.findings if f.fails)
    gone = len({k for k, _ in meant})
    return applied, (
        f"re-scan: {gone} finding(s) gone from the lockfiles fixed, none new; "
        f"{failing} still failing"
    )


def _restore(draft: fix_plans.Draft, changed: dict[Path, str]) -> None:
    for path in changed:
        write_text(path, draft.originals[path])


def _rolled_back(
    draft: fix_plans.Draft, changed: dict[Path, str], plans: list[Plan], *, why: str
) -> tuple[list[Plan], str]:
    _restore(draft, changed)
    undone = [
        replace(p, state=PlanState.ROLLED_BACK, reason=f"rolled back: {why}")
        if p.state is PlanState.READY
        else p
        for p in plans
    ]
    return undone, f"re-scan disagreed, every file put back: {why}"
