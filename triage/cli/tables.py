"""The rotation's text output through rich: boxed and coloured on a terminal, plain columns
(no box, no colour) when piped, and within 80 columns either way unless the terminal is wider."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from triage.core.report import note_text
from triage.core.rotation import Stats, is_overdue
from triage.core.rotation_report import FindingDetails
from triage.models import IndexNote, LicenseResult, TriageRecord

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

ASSIGNEE_WIDTH = 10  # the queue's assignee column; `show` and JSON give the name whole
TOP_REPOSITORIES = 10  # the text stats' repository table; JSON and HTML list them all
SEVERITY_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


@functools.cache
def _visible_kinds() -> tuple[type[Console], type[Table]]:
    """rich's console and table, with every string they are given spelled by `visible`
    first: rich writes its own escape sequences, so it writes under cli.output's filter, and
    the data must be made safe before it gets there (rich strips only some controls)."""
    from rich.console import Console
    from rich.table import Table

    from triage.core.escape import visible

    def shown(items: tuple[Any, ...]) -> list[Any]:
        return [visible(item) if isinstance(item, str) else item for item in items]

    class ShownConsole(Console):
        def print(self, *objects: Any, **options: Any) -> None:
            super().print(*shown(objects), **options)

    class ShownTable(Table):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*shown(renderables), **options)

    return ShownConsole, ShownTable


def console() -> Console:
    from triage.cli.output import unfiltered

    kind, _ = _visible_kinds()
    return kind(file=unfiltered(sys.stdout), highlight=False, soft_wrap=False)


def _table(out: Console, *columns: str, title: str | None = None) -> Table:
    from rich import box

    _, Table = _visible_kinds()
    table = Table(
        *columns,
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD if out.is_terminal else None,
        pad_edge=False,
        show_edge=False,
        header_style="bold" if out.is_terminal else "",
    )
    for column in table.columns:  # a header is never cut mid-word
        column.min_width = len(str(column.header))
    return table


def issue_label(url: str | None) -> str:
    """`#12` for an issue URL, `local#3` for the local tracker, `-` for none."""
    if not url:
        return "-"
    if url.startswith("triage-local:"):
        return "local#" + url.partition(":")[2]
    return "#" + url.rstrip("/").rpartition("/")[2]


def _issue_cell(out: Console, url: str | None) -> str:
    label = issue_label(url)
    if out.is_terminal and url and url.startswith("http"):
        return f"[link={url}]{label}[/link]"
    return label


def _severity_cell(out: Console, severity: str) -> str:
    style = SEVERITY_STYLES.get("critical" if severity == "malware" else severity)
    return f"[{style}]{severity}[/]" if style and out.is_terminal else severity


def _due_cell(out: Console, record: TriageRecord, now: dt.datetime) -> str:
    due = record.due.date().isoformat()
    if not is_overdue(record, now):
        return due
    late = f"{due} late"
    return f"[bold red]{late}[/]" if out.is_terminal else late


def print_queue(
    out: Console, records: Sequence[TriageRecord], now: dt.datetime, *, index: Sequence[IndexNote]
) -> None:
    for note in index:  # not findings, but what the rotation must hear of first
        out.print(
            f"{note.level.value}[{note.kind}]: {note_text(note)} (the last audit)", markup=False
        )
    if not records:
        out.print("the queue is empty")
        return
    if any(r.key.repository for r in records):
        _print_org_queue(out, records, now)
        return
    rows = [
        (
            str(record.key),
            ", ".join(record.versions),
            "malware" if record.malicious else record.severity,
            _due_cell(out, record, now),
            record.assignee or "-",
            _issue_cell(out, record.issue_url),
        )
        for record in records
    ]
    headers = ("key", "version", "severity", "due", "assignee", "issue")
    widths = [max(len(h), *(len(_plain(row[i])) for row in rows)) for i, h in enumerate(headers)]
    widths[4] = min(widths[4], ASSIGNEE_WIDTH)
    # The key is what people copy into `show` and `claim`; it, the severity, the due date and
    # the issue are read whole, and nothing is broken mid-word: a long name ends in an
    # ellipsis (`show` and JSON give it whole). A key so long that the row cannot fit puts
    # versions and assignee on a line of their own below it.
    if sum(widths) + 2 * (len(headers) - 1) > out.width:
        _print_stacked_queue(out, rows)
        _queue_footer(out, records, now)
        return
    table = _table(out, *headers)
    for whole in (0, 1, 2, 3, 5):
        table.columns[whole].no_wrap = True
    table.columns[4].overflow = "ellipsis"
    table.columns[4].no_wrap = True
    table.columns[4].max_width = ASSIGNEE_WIDTH
    for key, versions, severity, due, assignee, issue in rows:
        table.add_row(key, versions, _severity_cell(out, severity), due, assignee, issue)
    out.print(table)
    _queue_footer(out, records, now)


def _plain(cell: str) -> str:
    from rich.text import Text

    return Text.from_markup(cell).plain


def _print_stacked_queue(out: Console, rows: Sequence[tuple[str, ...]]) -> None:
    """Each finding on two lines: key, severity, due date and issue; then its versions and
    assignee, indented, whole."""
    from rich.markup import escape

    key_width = max(len("key"), *(len(row[0]) for row in rows))
    due_width = max(len("due"), *(len(_plain(row[3])) for row in rows))
    out.print(f"{'key':<{key_width}}  {'severity':<8}  {'due':<{due_width}}  issue", markup=False)
    for key, versions, severity, due, assignee, issue in rows:
        padded = _severity_cell(out, f"{severity:<8}") if out.is_terminal else f"{severity:<8}"
        gap = " " * (due_width - len(_plain(due)))
        out.print(f"{escape(key):<{key_width}}  {padded}  {due}{gap}  {issue}")
        out.print(f"  {escape(versions)}; assignee {escape(assignee)}", soft_wrap=True)


def _print_org_queue(out: Console, records: Sequence[TriageRecord], now: dt.datetime) -> None:
    """An organisation's backlog: the repository (its owner said once, below) beside the key;
    versions and age are left to `show` and JSON so that a row stays within 80 columns."""
    table = _table(out, "repository", "key", "severity", "due", "assignee", "issue")
    for whole in (1, 2, 3, 5):
        table.columns[whole].no_wrap = True
    for folding in (0, 4):
        table.columns[folding].overflow = "fold"
    owners = set()
    for record in records:
        owner, _, name = (record.key.repository or "").partition("/")
        owners.add(owner)
        table.add_row(
            name,
            str(record.key.local),
            _severity_cell(out, record.severity),
            _due_cell(out, record, now),
            record.assignee or "-",
            _issue_cell(out, record.issue_url),
        )
    out.print(table)
    _queue_footer(out, records, now)
    out.print(
        f"repositories of {', '.join(sorted(owners))}; `show` and `claim` take "
        f"OWNER/REPOSITORY:KEY, e.g. {records[0].key}"
    )


def _queue_footer(out: Console, records: Sequence[TriageRecord], now: dt.datetime) -> None:
    overdue = sum(is_overdue(r, now) for r in records)
    out.print(f"{len(records)} finding(s) to work, {overdue} overdue")


def print_show(out: Console, details: FindingDetails, now: dt.datetime) -> None:
    from rich.markup import escape

    title = str(details.key)
    facts = _table(out, "", "", title=title)
    facts.show_header = False
    facts.columns[1].overflow = "fold"
    record, scanned = details.record, details.scanned

    def fact(name: str, value: str | None) -> None:
        facts.add_row(name, escape(value) if value else "-")

    if details.malicious:
        fact("kind", "MALWARE: remove it, never upgrade it")
    if scanned is not None:
        finding = scanned.finding
        fact("aliases", ", ".join(finding.aliases))
        fact("versions", ", ".join(finding.versions))
        fact(
            "fix versions",
            "none: remove it (malware)"
            if finding.malicious
            else ", ".join(finding.fixed_versions) or "none published",
        )
        fact("severity", finding.severity.label)
        fact("lockfiles", ", ".join(finding.lockfiles))
        fact("status", scanned.status.value)
    elif record is not None and details.key.repository is not None:
        # An organisation's finding: its lockfiles are on GitHub; the audit's record says.
        fact("versions", ", ".join(record.versions))
        fact("fix versions", ", ".join(details.fixed_versions) or "none published")
        fact("severity", record.severity)
        fact("lockfiles", f"on {details.key.repository}'s default branch (`triage org audit`)")
    else:
        fact("lockfiles", "not in the working tree's lockfiles")
    if details.dependency is not None:
        direct = details.dependency.direct
        kind = {True: "direct", False: "transitive", None: "not known"}[direct]
        via = ", ".join(details.dependency.via)
        fact("dependency", f"{kind}" + (f", required by {via}" if via else ""))
    if record is not None:
        fact("state", record.state.value)
        fact("first seen", record.first_seen.date().isoformat())
        fact(
            "due", record.due.date().isoformat() + (" (overdue)" if is_overdue(record, now) else "")
        )
        fact("assignee", record.assignee)
        fact("tracking issue", record.issue_url)
    else:
        fact("state", "not recorded by an audit yet")
    for rule in details.applying_ignores:
        until = f" until {rule.expires.isoformat()}" if rule.expires else ""
        fact(
            f"ignore [{rule.index}]",
            f"{rule.id}{until}: {rule.reason or 'no reason'} ({rule.issue or 'no issue'})",
        )
    fact("response", details.suggested_response)
    for note in details.index_notes:
        fact(f"index ({note.level.value})", note_text(note))
    if details.fix is not None:
        pull = f"; pull request {details.fix.pull_url}" if details.fix.pull_url else ""
        fact("fix plan", f"{details.fix.plan} [{details.fix.state}]{pull}")
    elif details.scanned is not None and not details.malicious:
        fact("fix plan", f"none yet: `triage fix {details.key}` plans the smallest upgrade")
    out.print(facts)

    records = _table(out, "record", "published", "modified", "severity", title="advisories")
    records.columns[3].overflow = "fold"
    for advisory in details.advisories:
        withdrawn = " (withdrawn)" if advisory.withdrawn else ""
        records.add_row(
            advisory.id + withdrawn,
            (advisory.published or "-")[:10],
            advisory.modified[:10],
            advisory.severity.label,
        )
    out.print(records)

    history = _table(out, "when", "who", "event", "detail", title="history")
    history.columns[3].overflow = "fold"
    for change in details.history:
        history.add_row(
            change.at.strftime("%Y-%m-%d %H:%M"), change.who, change.event, escape(change.detail)
        )
    if not details.history:
        history.add_row("-", "-", "-", "no history recorded")
    out.print(history)


def print_stats(out: Console, stats: Stats) -> None:
    def counts(title: str, rows: dict[str, int]) -> None:
        table = _table(out, title.split(" by ")[-1], "findings", title=title)
        for name, count in rows.items():
            table.add_row(name, str(count))
        if not rows:
            table.add_row("-", "0")
        out.print(table)

    if stats.scope:
        out.print(f"{stats.scope}: {len(stats.open_by_repository)} repositories with open findings")
    counts("open by severity", stats.open_by_severity)
    counts("open by state", stats.open_by_state)
    counts("open by age", stats.ages)
    if stats.open_by_repository:
        most = dict(list(stats.open_by_repository.items())[:TOP_REPOSITORIES])
        counts("open by repository", most)
        rest = len(stats.open_by_repository) - len(most)
        if rest > 0:
            out.print(f"and {rest} more repositories (--format json or html lists every one)")
    window = stats.window.days

    def days(value: float | None) -> str:
        return "-" if value is None else f"{value:g} days"

    summary = _table(out, "measure", "value", title=f"last {window} days")
    summary.add_row("overdue now", str(stats.overdue))
    summary.add_row(f"median time to triage ({stats.triaged})", days(stats.median_days_to_triage))
    summary.add_row(f"median time to fix ({stats.fixed})", days(stats.median_days_to_fix))
    out.print(summary)


VERDICT_STYLES = {"deny": "red", "warn": "yellow"}


def print_licenses(out: Console, results: Sequence[LicenseResult]) -> None:
    """Package, version, expression, verdict and why; the why folds, the rest stay whole."""
    table = _table(out, "package", "version", "license", "verdict", "why")
    table.columns[3].no_wrap = True
    for column in (0, 1, 2, 4):
        table.columns[column].overflow = "fold"
    for r in results:
        expression = (r.info.expression or r.info.raw or "none") if r.info else "-"
        verdict = r.verdict.value if r.level.value != "deny" else f"{r.verdict.value} (deny)"
        style = VERDICT_STYLES.get(r.level.value) if out.is_terminal else None
        table.add_row(
            r.name,
            r.version,
            expression,
            f"[{style}]{verdict}[/]" if style else verdict,
            "" if r.level.value == "allow" else r.why,
        )
    out.print(table)
