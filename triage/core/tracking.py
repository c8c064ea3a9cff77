"""Tracking issues (SPEC §9): one per finding key, reconciled from the findings and the issues
that already exist. Pure: what the tracker holds and `today` come in, actions go out.

Each issue body carries two hidden markers: the key it tracks, and the facts last told (the
severity, the fix versions, the ignore expiry already warned about). The tracker is the source
of truth, so a run killed at any point is finished by the next one without a second issue:
whatever was done is visible in the tracker, whatever was not is simply computed again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from msgspec import Struct
from msgspec.structs import replace

from triage.core.policy import effective_severity
from triage.models import AdvisoriesConfig, AssessedFinding, IgnoreRule, Level, Status

KEY_MARKER = "<!-- triage:key={key} -->"
STATE_MARKER = "<!-- triage:state={state} -->"
EXPIRY_WARNING_DAYS = 7
_KEY = re.compile(r"<!-- triage:key=(\S+) -->")
_STATE = re.compile(r"<!-- triage:state=(\{.*?\}) -->")


class Recorded(Struct, frozen=True):
    """The facts an issue last told its readers."""

    severity: str = ""
    fixed: tuple[str, ...] = ()
    expiry_warned: str | None = None  # the expiry date a warning was given for

    def marker(self) -> str:
        state = {
            "severity": self.severity,
            "fixed": list(self.fixed),
            "expiry_warned": self.expiry_warned,
        }
        return STATE_MARKER.format(state=json.dumps(state, separators=(",", ":")))


class TrackedIssue(Struct, frozen=True):
    number: int
    key: str
    is_open: bool
    url: str
    body: str

    @property
    def recorded(self) -> Recorded:
        found = _STATE.search(self.body)
        if not found:
            return Recorded()
        try:
            raw = json.loads(found.group(1))
            return Recorded(
                str(raw.get("severity", "")), tuple(raw.get("fixed", [])), raw.get("expiry_warned")
            )
        except (ValueError, AttributeError, TypeError, RecursionError):
            return Recorded()


def key_in(body: str) -> str | None:
    found = _KEY.search(body or "")
    return found.group(1) if found else None


# --- actions --------------------------------------------------------------------------------


class OpenIssue(Struct, frozen=True):
    key: str
    title: str
    body: str
    labels: tuple[str, ...] = ()  # the class's own, beside the configured ones


class CommentOn(Struct, frozen=True):
    number: int
    text: str


class EditBody(Struct, frozen=True):
    number: int
    body: str


class CloseIssue(Struct, frozen=True):
    number: int
    comment: str


class ReopenIssue(Struct, frozen=True):
    number: int
    comment: str


Action = OpenIssue | CommentOn | EditBody | CloseIssue | ReopenIssue


class Tracked(Struct, frozen=True):
    """Something the audit tracks (an advisory finding, an untrusted package version), with
    the title and body its issue should have now."""

    key: str
    status: Status
    ignore: IgnoreRule | None
    title: str
    body: str  # without the state marker
    recorded: Recorded
    labels: tuple[str, ...] = ()  # the class's own (`malware`), beside [github] labels


def rekeyed(item: Tracked, key: str, title: str) -> Tracked:
    """The item tracked under another key and title (an organisation's central repository
    holds every repository's issues): the key marker in its body names the new key, so the
    issue is found again under it and never taken for another repository's."""
    old, new = KEY_MARKER.format(key=item.key), KEY_MARKER.format(key=key)
    body = item.body.replace(old, new) if old in item.body else f"{item.body}\n{new}"
    return replace(item, key=key, title=title, body=body)


def wants_issue(item: AssessedFinding, config: AdvisoriesConfig) -> bool:
    """Active (or expired-ignore) findings at or above the threshold get an issue; malware
    does unless its level is allow."""
    if item.finding.malicious:
        return item.status is not Status.IGNORED and config.malicious is not Level.ALLOW
    severe = effective_severity(item.finding.severity, config).value
    return item.status is not Status.IGNORED and severe >= config.severity_threshold.value


def _updates(want: Tracked, issue: TrackedIssue, today: dt.date) -> tuple[list[str], Recorded]:
    """Comments owed to an existing issue, and the state it should record afterwards."""
    before, now = issue.recorded, want.recorded
    notes = []
    new_fixes = [v for v in now.fixed if v not in before.fixed]
    if new_fixes and before.severity:
        notes.append(f"A fix is available: {', '.join(new_fixes)}.")
    if before.severity and before.severity != now.severity:
        notes.append(f"Severity changed from {before.severity} to {now.severity}.")
    warned = before.expiry_warned
    rule = want.ignore
    if (
        want.status is Status.IGNORED
        and rule is not None
        and rule.expires is not None
        and (rule.expires - today).days <= EXPIRY_WARNING_DAYS
        and warned != rule.expires.isoformat()
    ):
        notes.append(
            f"The ignore in deny.toml expires on {rule.expires.isoformat()}; after "
            "that this finding fails the policy again."
        )
        warned = rule.expires.isoformat()
    return notes, Recorded(now.severity, now.fixed, warned)


def reconcile(
    wanted: Sequence[Tracked],
    present: Sequence[Tracked],
    issues: Mapping[str, TrackedIssue],
    *,
    today: dt.date,
) -> list[Action]:
    """`wanted`: findings that must have an open issue; `present`: every other finding still
    there (ignored or below the threshold): their issues stay as they are but get notes.
    Issues whose finding is gone are closed; comments go before the body records them, so a
    crash in between repeats a note rather than losing one."""
    actions: list[Action] = []
    keys_present = {t.key for t in present}
    for want in wanted:
        key = want.key
        issue = issues.get(key)
        if issue is None:
            actions.append(
                OpenIssue(key, want.title, want.body + "\n" + want.recorded.marker(), want.labels)
            )
            continue
        notes, recorded = _updates(want, issue, today)
        if not issue.is_open:
            why = (
                "its ignore expired"
                if want.status is Status.IGNORE_EXPIRED
                else "the finding is back"
            )
            actions.append(ReopenIssue(issue.number, f"Reopened: {why}."))
        actions.extend(CommentOn(issue.number, note) for note in notes)
        body = want.body + "\n" + recorded.marker()
        if body != issue.body:
            actions.append(EditBody(issue.number, body))
    for other in present:
        issue = issues.get(other.key)
        if issue is None:
            continue
        notes, recorded = _updates(other, issue, today)
        actions.extend(CommentOn(issue.number, note) for note in notes)
        body = other.body + "\n" + recorded.marker()
        if notes and body != issue.body:
            actions.append(EditBody(issue.number, body))
    wanted_keys = {w.key for w in wanted}
    for key, issue in sorted(issues.items()):
        if issue.is_open and key not in wanted_keys and key not in keys_present:
            actions.append(
                CloseIssue(
                    issue.number,
                    "Closed: the finding is gone from the default branch (upgraded past the fix, "
                    "removed, the advisory withdrawn, or the dependency now trusted).",
                )
            )
    return actions


class IssueTracker(Protocol):
    """A place tracking issues live: GitHub, or the local SQLite tracker."""

    def tracked_issues(self) -> dict[str, TrackedIssue]: ...

    def ensure_labels(self, labels: Sequence[str]) -> None: ...

    def open_issue(
        self, key: str, title: str, body: str, *, labels: Sequence[str]
    ) -> TrackedIssue: ...

    def comment(self, number: int, text: str) -> None: ...

    def edit_body(self, number: int, body: str) -> None: ...

    def close(self, number: int, comment: str) -> None: ...

    def reopen(self, number: int, comment: str) -> None: ...
