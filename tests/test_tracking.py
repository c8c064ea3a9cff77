"""The tracking-issue reconciler (pure): what an existing issue is told, and when."""

from __future__ import annotations

import datetime as dt

from triage.core.tracking import (
    CloseIssue,
    CommentOn,
    EditBody,
    OpenIssue,
    Recorded,
    ReopenIssue,
    Tracked,
    TrackedIssue,
    reconcile,
)
from triage.models import Status

TODAY = dt.date(2026, 11, 24)


def tracked(
    severity: str = "high", fixed: tuple[str, ...] = (), status: Status = Status.ACTIVE
) -> Tracked:
    return Tracked(
        "PYSEC-1/demo", status, None, "PYSEC-1: demo 1.0", "body", Recorded(severity, fixed)
    )


def issue(recorded: Recorded, is_open: bool = True) -> TrackedIssue:
    return TrackedIssue(4, "PYSEC-1/demo", is_open, "u", "body\n" + recorded.marker())


def test_new_finding_opens_an_issue_with_its_markers() -> None:
    (action,) = reconcile([tracked()], [], {}, today=TODAY)
    assert isinstance(action, OpenIssue) and action.key == "PYSEC-1/demo"
    assert action.body.endswith(Recorded("high", ()).marker())


def test_unchanged_issue_gets_nothing() -> None:
    assert (
        reconcile([tracked()], [], {"PYSEC-1/demo": issue(Recorded("high", ()))}, today=TODAY) == []
    )


def test_fix_appearing_and_severity_changing_are_commented_then_recorded() -> None:
    actions = reconcile(
        [tracked("critical", ("1.1",))],
        [],
        {"PYSEC-1/demo": issue(Recorded("high", ()))},
        today=TODAY,
    )
    assert [type(a) for a in actions] == [CommentOn, CommentOn, EditBody]
    assert actions[0].text == "A fix is available: 1.1."  # type: ignore[union-attr]
    assert actions[1].text == "Severity changed from high to critical."  # type: ignore[union-attr]
    assert actions[2].body.endswith(Recorded("critical", ("1.1",)).marker())  # type: ignore[union-attr]


def test_gone_findings_close_and_returning_ones_reopen() -> None:
    (close,) = reconcile([], [], {"PYSEC-1/demo": issue(Recorded("high", ()))}, today=TODAY)
    assert isinstance(close, CloseIssue) and close.number == 4
    closed = {"PYSEC-1/demo": issue(Recorded("high", ()), is_open=False)}
    assert reconcile([], [], closed, today=TODAY) == []  # already closed: nothing to say
    (reopen,) = reconcile([tracked()], [], closed, today=TODAY)
    assert reopen == ReopenIssue(4, "Reopened: the finding is back.")
    (expired,) = reconcile([tracked(status=Status.IGNORE_EXPIRED)], [], closed, today=TODAY)
    assert expired == ReopenIssue(4, "Reopened: its ignore expired.")


def test_findings_still_present_but_not_wanted_keep_their_issue() -> None:
    below = tracked("low")
    assert reconcile([], [below], {"PYSEC-1/demo": issue(Recorded("low", ()))}, today=TODAY) == []
