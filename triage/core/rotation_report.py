"""The rotation's documents: queue, show, stats and policy check as JSON, stats as HTML.

Text tables are drawn by the command line (rich); everything here is plain data to text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from triage.core import escape, report
from triage.core.matching import fixed_versions
from triage.core.policy import malware_response
from triage.core.rotation import Stats, is_overdue
from triage.models import (
    Advisory,
    AssessedFinding,
    Change,
    Diagnostic,
    FindingKey,
    FixNote,
    IgnoreRule,
    IndexNote,
    Schema,
    TriageRecord,
    is_malware_id,
)


class FindingDetails(Struct, frozen=True):
    """Everything known about one finding key: the stored triage state and history, and, when
    the working tree has it, the finding as scanned now."""

    key: FindingKey
    record: TriageRecord | None
    history: list[Change]
    scanned: AssessedFinding | None
    dependency: report.Dependency | None
    advisories: list[Advisory]  # the group's records that affect the package
    applying_ignores: list[IgnoreRule]  # the deny.toml entries that match it, expired or not
    fix: FixNote | None = None  # the last plan `triage fix` made for it
    # What the last audit found the index saying of the package's locked release(s).
    index_notes: tuple[IndexNote, ...] = ()

    @property
    def malicious(self) -> bool:
        """Malware: a MAL- record among the group's, or the finding as scanned says so."""
        if self.scanned is not None and self.scanned.finding.malicious:
            return True
        ids = [self.key.advisory, *(i for a in self.advisories for i in (a.id, *a.aliases))]
        return any(a.malicious for a in self.advisories) or any(is_malware_id(i) for i in ids)

    @property
    def suggested_response(self) -> str | None:
        if self.malicious:
            return malware_response(self.key.package)
        if self.scanned is None or self.dependency is None:
            return None
        return report.suggested_response(self.scanned, self.dependency)

    @property
    def fixed_versions(self) -> tuple[str, ...]:
        """The fix versions the group's records give for the package (for a finding known
        only from an audit's record, as the scan would have given them); none for malware."""
        if self.malicious:
            return ()
        if self.scanned is not None:
            return self.scanned.finding.fixed_versions
        return fixed_versions(
            entry
            for advisory in self.advisories
            if not advisory.withdrawn
            for entry in advisory.affected
            if entry.package == self.key.package
        )


def _html(value: str) -> str:
    """Text for the HTML page: markup escaped, and what HTML cannot carry spelled out."""
    return html.escape(escape.visible(value))


def _stamp(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def age_days(record: TriageRecord, now: dt.datetime) -> int:
    return max(0, (now - record.first_seen).days)


def record_json(record: TriageRecord, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": str(record.key),
        "repository": record.key.repository,
        "advisory": record.advisory,
        "package": record.package,
        "kind": "malicious" if record.malicious else "vulnerability",
        "versions": list(record.versions),
        "severity": record.severity,
        "state": record.state.value,
        "first_seen": _stamp(record.first_seen),
        "age_days": age_days(record, now),
        "due": _stamp(record.due),
        "overdue": is_overdue(record, now),
        "assignee": record.assignee,
        "issue_url": record.issue_url,
        "gone_since": _stamp(record.gone_since),
    }


def queue_json(
    records: Sequence[TriageRecord], now: dt.datetime, index: Sequence[IndexNote] = ()
) -> str:
    document = {
        "schema": Schema.QUEUE,
        "now": _stamp(now),
        "findings": [record_json(r, now) for r in records],
        "index": [report.note_json(n) for n in index],
    }
    return json.dumps(document, indent=2) + "\n"


def change_json(change: Change) -> dict[str, Any]:
    return {
        "at": _stamp(change.at),
        "who": change.who,
        "event": change.event,
        "detail": change.detail,
        "state": change.state.value,
    }


def advisory_json(advisory: Advisory) -> dict[str, Any]:
    return {
        "id": advisory.id,
        "aliases": list(advisory.aliases),
        "published": advisory.published,
        "modified": advisory.modified,
        "withdrawn": advisory.withdrawn,
        "severity": advisory.severity.label,
        "severity_vector": advisory.severity_vector,
        "references": list(advisory.references),
    }


def show_json(details: FindingDetails, now: dt.datetime) -> str:
    scanned = details.scanned
    dependency = details.dependency
    document = {
        "schema": Schema.SHOW,
        "key": str(details.key),
        "kind": "malicious" if details.malicious else "vulnerability",
        "repository": details.key.repository,
        "triage": record_json(details.record, now) if details.record else None,
        "finding": report.finding_json(scanned) if scanned else None,
        "versions": list(scanned.finding.versions) if scanned else None,
        "fixed_versions": list(details.fixed_versions),
        "dependency": (
            {"direct": dependency.direct, "via": list(dependency.via)} if dependency else None
        ),
        "suggested_response": details.suggested_response,
        "index": [report.note_json(n) for n in details.index_notes],
        "fix": None
        if details.fix is None
        else {
            "plan": details.fix.plan,
            "state": details.fix.state,
            "pull_request": details.fix.pull_url,
            "at": _stamp(details.fix.at),
        },
        "advisories": [advisory_json(a) for a in details.advisories],
        "ignores": [report.ignore_json(rule) for rule in details.applying_ignores],
        "history": [change_json(c) for c in details.history],
    }
    return json.dumps(document, indent=2) + "\n"


def stats_json(stats: Stats) -> str:
    document = {
        "schema": Schema.STATS,
        "now": _stamp(stats.now),
        "org": stats.scope or None,
        "window_days": stats.window.days,
        "open": {
            "by_severity": stats.open_by_severity,
            "by_state": stats.open_by_state,
            "by_repository": stats.open_by_repository,
        },
        "age_distribution": stats.ages,
        "overdue": stats.overdue,
        "time_to_triage": {"count": stats.triaged, "median_days": stats.median_days_to_triage},
        "time_to_fix": {"count": stats.fixed, "median_days": stats.median_days_to_fix},
        "open_over_time": [{"at": _stamp(at), "open": n} for at, n in stats.timeline],
    }
    return json.dumps(document, indent=2) + "\n"


def diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    rule = diagnostic.ignore
    return {
        "code": diagnostic.code,
        "level": diagnostic.level.value,
        "message": diagnostic.message,
        "ignore": None
        if rule is None
        else {"index": rule.index, **(report.ignore_json(rule) or {})},
    }


def policy_json(diagnostics: Sequence[Diagnostic], notes: Sequence[str]) -> str:
    document = {
        "schema": Schema.POLICY,
        "diagnostics": [diagnostic_json(d) for d in diagnostics],
        "notes": list(notes),
    }
    return json.dumps(document, indent=2) + "\n"


def policy_text(diagnostics: Sequence[Diagnostic], notes: Sequence[str]) -> str:
    """cargo-deny's shape: `level[code]: message`, one per line."""
    lines = [f"{d.level.value}[{d.code}]: {d.message}" for d in diagnostics]
    lines += [f"note: {note}" for note in notes]
    denied = sum(d.level.value == "deny" for d in diagnostics)
    lines.append(
        f"policy check: {len(diagnostics)} lint(s), {denied} at deny level"
        if diagnostics
        else "policy check: the ignore ledger is clean"
    )
    return "\n".join(lines) + "\n"


# --- the HTML report ----------------------------------------------------------------------------

CHART_COLOUR = "#d6336c"  # the line of open findings; tests look for it in a screenshot
HEADER_COLOUR = "#1864ab"  # table headings
CHART_WIDTH, CHART_HEIGHT, MARGIN = 640, 220, 40


def _chart(timeline: Sequence[tuple[dt.datetime, int]]) -> str:
    """An inline SVG line chart of open findings per audit run: no script, no network."""
    if not timeline:
        return '<p class="empty">No audit run has recorded its findings yet.</p>'
    width, height = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN
    top = max(n for _, n in timeline) or 1
    steps = max(len(timeline) - 1, 1)
    points = [
        (MARGIN + width * i / steps, MARGIN + height * (1 - n / top))
        for i, (_, n) in enumerate(timeline)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{CHART_COLOUR}">'
        f"<title>{_html(at.date().isoformat())}: {n} open</title></circle>"
        for (x, y), (at, n) in zip(points, timeline, strict=True)
    )
    first, last = timeline[0][0].date().isoformat(), timeline[-1][0].date().isoformat()
    bottom = MARGIN + height
    return (
        f'<svg id="open-chart" role="img" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" aria-label="Open findings per audit run">'
        f'<line x1="{MARGIN}" y1="{bottom}" x2="{MARGIN + width}" y2="{bottom}" stroke="#868e96"/>'
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{bottom}" stroke="#868e96"/>'
        f'<text x="{MARGIN - 8}" y="{MARGIN + 4}" text-anchor="end">{top}</text>'
        f'<text x="{MARGIN - 8}" y="{bottom + 4}" text-anchor="end">0</text>'
        f'<text x="{MARGIN}" y="{bottom + 20}">{first}</text>'
        f'<text x="{MARGIN + width}" y="{bottom + 20}" text-anchor="end">{last}</text>'
        f'<polyline points="{line}" fill="none" stroke="{CHART_COLOUR}" stroke-width="4"/>'
        f"{dots}</svg>"
    )


def _table(table_id: str, caption: str, rows: Sequence[tuple[str, object]]) -> str:
    body = "".join(
        f"<tr><th scope=row>{_html(name)}</th><td>{_html(str(value))}</td></tr>"
        for name, value in rows
    )
    return (
        f'<table id="{table_id}"><caption>{_html(caption)}</caption>'
        f"<thead><tr><th>{_html(caption.split(' by ')[-1])}</th><th>findings</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g} days"


def stats_html(stats: Stats) -> str:
    """One self-contained page: the headline numbers, the chart and the tables."""
    window = stats.window.days
    headline = [
        ("Overdue", stats.overdue),
        (
            f"Median time to triage ({window} days, {stats.triaged} triaged)",
            _days(stats.median_days_to_triage),
        ),
        (
            f"Median time to fix ({window} days, {stats.fixed} fixed)",
            _days(stats.median_days_to_fix),
        ),
    ]
    tables = "".join(
        (
            _table(
                "by-severity", "Open findings by severity", list(stats.open_by_severity.items())
            ),
            _table("by-state", "Open findings by state", list(stats.open_by_state.items())),
            _table("by-age", "Open findings by age", list(stats.ages.items())),
            _table(
                "by-repository",
                "Open findings by repository",
                list(stats.open_by_repository.items()),
            )
            if stats.scope
            else "",
        )
    )
    scope = f" of {_html(stats.scope)}" if stats.scope else ""
    facts = "".join(
        f"<div class=fact><span>{_html(name)}</span><b>{_html(str(value))}</b></div>"
        for name, value in headline
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>triage stats{scope} {stats.now.date().isoformat()}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 24px; color: #212529; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.facts {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.fact {{ border: 1px solid #dee2e6; padding: 8px 12px; border-radius: 6px; }}
.fact b {{ display: block; font-size: 20px; }}
.tables {{ display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }}
table {{ border-collapse: collapse; min-width: 200px; }}
caption {{ text-align: left; font-weight: 600; padding-bottom: 4px; }}
thead th {{ background: {HEADER_COLOUR}; color: #fff; padding: 6px 10px; text-align: left; }}
td, tbody th {{ border-bottom: 1px solid #dee2e6; padding: 4px 10px; text-align: left; }}
svg text {{ font-size: 12px; fill: #495057; }}
</style></head>
<body>
<h1>triage: findings{scope} as of {stats.now.isoformat(timespec="minutes")}</h1>
<div class="facts">{facts}</div>
<h2>Open findings over time</h2>
{_chart(stats.timeline)}
<h2>Open findings</h2>
<div class="tables">{tables}</div>
</body></html>
"""
