"""The rotation's view of findings: triage state, SLA due dates, the queue and its statistics.

Pure: the stored records, the history and `now` come in; new records and history entries go
out. The database appends them; nothing here is ever rewritten in place.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Collection, Mapping, Sequence

from msgspec import Struct, field
from msgspec.structs import replace

from triage.errors import InputError
from triage.models import Change, FindingKey, TriageRecord, TriageState

AUDIT = "audit"  # who the daily audit's changes are recorded as
OPEN_STATES = (TriageState.NEW, TriageState.CLAIMED)
AGE_BUCKETS = ((7, "0-7 days"), (30, "8-30 days"), (90, "31-90 days"))
OLDEST_BUCKET = "over 90 days"


def sla_for(severity: str, sla: Mapping[str, dt.timedelta]) -> dt.timedelta:
    """[sla] has a duration per severity label, `unknown` included; `none` counts as low."""
    return sla.get(severity) or sla["low"]


def due_for(first_seen: dt.datetime, severity: str, sla: Mapping[str, dt.timedelta]) -> dt.datetime:
    return first_seen + sla_for(severity, sla)


class Observed(Struct, frozen=True):
    """One finding as the audit saw it now."""

    key: FindingKey
    advisory: str
    package: str
    versions: tuple[str, ...]
    severity: str
    ignored: bool  # an ignore in deny.toml stands for it
    issue_url: str | None
    malicious: bool = False


def _change(record: TriageRecord, at: dt.datetime, who: str, *, event: str, detail: str) -> Change:
    return Change(record.key, at, who, event, detail, record.state)


def observe(
    previous: Mapping[FindingKey, TriageRecord],
    seen: Sequence[Observed],
    now: dt.datetime,
    *,
    sla: Mapping[str, dt.timedelta],
) -> tuple[list[TriageRecord], list[Change]]:
    """What one audit changes: new findings start `new` (or `ignored` when deny.toml says so),
    an ignore that ends sends a finding back to the queue, a finding no longer seen is `fixed`,
    one that comes back starts over. Returns every record to store and the history to append."""
    records: list[TriageRecord] = []
    changes: list[Change] = []
    for item in seen:
        old = previous.get(item.key)
        wanted = TriageState.IGNORED if item.ignored else TriageState.NEW
        if old is None:
            record = TriageRecord(
                key=item.key,
                advisory=item.advisory,
                package=item.package,
                versions=item.versions,
                severity=item.severity,
                state=wanted,
                first_seen=now,
                last_seen=now,
                due=due_for(now, item.severity, sla),
                issue_url=item.issue_url,
                malicious=item.malicious,
            )
            changes.append(
                _change(record, now, AUDIT, event="first-seen", detail=f"{item.severity} severity")
            )
            records.append(record)
            continue
        # The due date follows [sla] as it is now: a changed SLA applies to the whole queue.
        record = replace(
            old,
            versions=item.versions,
            severity=item.severity,
            last_seen=now,
            due=due_for(old.first_seen, item.severity, sla),
            issue_url=item.issue_url or old.issue_url,
            malicious=item.malicious,
        )
        if old.state is TriageState.FIXED:
            record = replace(
                record,
                state=wanted,
                first_seen=now,
                due=due_for(now, item.severity, sla),
                gone_since=None,
                assignee=None,
            )
            changes.append(
                _change(record, now, AUDIT, event="reappeared", detail="seen again after a fix")
            )
        elif item.ignored and old.state is not TriageState.IGNORED:
            record = replace(record, state=TriageState.IGNORED)
            changes.append(
                _change(record, now, AUDIT, event="ignored", detail="an ignore in deny.toml stands")
            )
        elif not item.ignored and old.state is TriageState.IGNORED:
            back = TriageState.CLAIMED if old.assignee else TriageState.NEW
            record = replace(record, state=back)
            changes.append(
                _change(
                    record,
                    now,
                    AUDIT,
                    event="ignore-ended",
                    detail="no ignore in deny.toml stands now",
                )
            )
        if item.severity != old.severity:
            changes.append(
                _change(
                    record,
                    now,
                    AUDIT,
                    event="severity",
                    detail=f"{old.severity} -> {item.severity}",
                )
            )
        records.append(record)
    seen_keys = {item.key for item in seen}
    for key, old in sorted(previous.items()):
        if key not in seen_keys and old.state is not TriageState.FIXED:
            record = replace(old, state=TriageState.FIXED, gone_since=now)
            changes.append(
                _change(record, now, AUDIT, event="fixed", detail="no longer in the lockfiles")
            )
            records.append(record)
    return records, changes


def claim(
    record: TriageRecord, assignee: str, who: str, *, now: dt.datetime
) -> tuple[TriageRecord, Change]:
    """Assign; a new finding becomes `claimed` (triaged), an ignored one stays ignored."""
    state = TriageState.CLAIMED if record.state is TriageState.NEW else record.state
    claimed = replace(record, assignee=assignee, state=state)
    before = record.assignee
    detail = f"assigned to {assignee}" + (
        f" (was {before})" if before and before != assignee else ""
    )
    return claimed, _change(claimed, now, who, event="claimed", detail=detail)


def mark_ignored(
    record: TriageRecord, who: str, now: dt.datetime, *, detail: str
) -> tuple[TriageRecord, Change]:
    ignored = replace(record, state=TriageState.IGNORED)
    return ignored, _change(ignored, now, who, event="ignored", detail=detail)


def mark_unignored(
    record: TriageRecord, who: str, now: dt.datetime, *, detail: str
) -> tuple[TriageRecord, Change]:
    state = TriageState.CLAIMED if record.assignee else TriageState.NEW
    back = replace(record, state=state if record.state is TriageState.IGNORED else record.state)
    return back, _change(back, now, who, event="unignored", detail=detail)


def is_overdue(record: TriageRecord, now: dt.datetime) -> bool:
    """The SLA is time to triage: only an untriaged (`new`) finding can be overdue."""
    return record.state is TriageState.NEW and now > record.due


def queue(
    records: Sequence[TriageRecord],
    now: dt.datetime,
    *,
    assignee: str | None = None,
    overdue_only: bool = False,
    severities: Collection[str] = (),
) -> list[TriageRecord]:
    """Findings still to work (new or claimed): malware first, then overdue, then by due
    date."""
    chosen = [
        r
        for r in records
        if r.state in OPEN_STATES
        and (assignee is None or r.assignee == assignee)
        and (not overdue_only or is_overdue(r, now))
        and (not severities or r.severity in severities)
    ]
    return sorted(chosen, key=lambda r: (not r.malicious, not is_overdue(r, now), r.due, r.key))


def age_label(age: dt.timedelta) -> str:
    return next((label for limit, label in AGE_BUCKETS if age.days <= limit), OLDEST_BUCKET)


class Stats(Struct, frozen=True):
    now: dt.datetime
    window: dt.timedelta
    open_by_severity: dict[str, int]
    open_by_state: dict[str, int]
    ages: dict[str, int]
    overdue: int
    triaged: int  # triaged within the window
    median_days_to_triage: float | None
    fixed: int  # fixed within the window
    median_days_to_fix: float | None
    timeline: list[tuple[dt.datetime, int]]  # (audit run, findings open after it)
    scope: str = ""  # the organisation, for `stats --org`
    open_by_repository: dict[str, int] = field(default_factory=dict)  # most first


def _median_days(durations: Sequence[dt.timedelta]) -> float | None:
    if not durations:
        return None
    return round(statistics.median(d.total_seconds() for d in durations) / 86400, 1)


def stats(
    records: Sequence[TriageRecord],
    history: Sequence[Change],
    timeline: Sequence[tuple[dt.datetime, int]],
    *,
    now: dt.datetime,
    window: dt.timedelta,
    scope: str = "",
) -> Stats:
    """Counts of what is open (not fixed), and how fast findings were triaged and fixed: each
    measured from when the finding appeared (or reappeared) to its first claim or ignore, and
    to its fix, for those that happened within `window` before `now`."""
    still_open = [r for r in records if r.state is not TriageState.FIXED]
    severity_order = ("critical", "high", "medium", "low", "unknown", "none")
    by_severity = {s: sum(r.severity == s for r in still_open) for s in severity_order}
    by_state = {
        s.value: sum(r.state is s for r in still_open)
        for s in TriageState
        if s is not TriageState.FIXED
    }
    ages = {label: 0 for label in (*(label for _, label in AGE_BUCKETS), OLDEST_BUCKET)}
    by_repository: dict[str, int] = {}
    for record in still_open:
        ages[age_label(now - record.first_seen)] += 1
        repository = record.key.repository
        if repository is not None:
            by_repository[repository] = by_repository.get(repository, 0) + 1

    since = now - window
    to_triage: list[dt.timedelta] = []
    to_fix: list[dt.timedelta] = []
    opened: dict[FindingKey, dt.datetime] = {}
    triaged: set[FindingKey] = set()
    for change in sorted(history, key=lambda c: (c.at, c.key)):
        if change.event in ("first-seen", "reappeared"):
            opened[change.key] = change.at
            triaged.discard(change.key)
            if change.state is TriageState.IGNORED:
                triaged.add(change.key)
        start = opened.get(change.key)
        if start is None:
            continue
        if change.event in ("claimed", "ignored") and change.key not in triaged:
            triaged.add(change.key)
            if change.at >= since:
                to_triage.append(change.at - start)
        if change.event == "fixed" and change.at >= since:
            to_fix.append(change.at - start)
    return Stats(
        now=now,
        window=window,
        open_by_severity={k: v for k, v in by_severity.items() if v},
        open_by_state=by_state,
        ages=ages,
        overdue=sum(is_overdue(r, now) for r in records),
        triaged=len(to_triage),
        median_days_to_triage=_median_days(to_triage),
        fixed=len(to_fix),
        median_days_to_fix=_median_days(to_fix),
        timeline=list(timeline),
        scope=scope,
        open_by_repository=dict(sorted(by_repository.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


_ORG_NAME = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*")


def check_org_name(org: str) -> None:
    """An organisation's name as GitHub allows it (it reaches URL paths and key prefixes):
    anything else is refused before it is used."""
    if not _ORG_NAME.fullmatch(org):
        raise InputError(
            f"--org {org!r} is not a GitHub organisation name",
            hint="letters, digits and single hyphens, as in github.com/ORG",
        )
