"""What `triage fix` says: a block per plan (readable at 80 columns), or JSON (fix-v1)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from triage.core import escape
from triage.core.remedy import FixReport, Move, Plan, PlanState
from triage.models import Format, Schema

WIDTH = 80
_INDENT = " " * 12


def _move(move: Move) -> str:
    if move.before is None:
        return f"{move.package} (new) {move.after}"
    if move.after is None:
        return f"{move.package} {move.before} (removed)"
    return f"{move.package} {move.before} -> {move.after}"


def plan_line(plan: Plan) -> str:
    """`alpha 1.0.0 -> 1.1.0 (uv.lock, in-place, major)`: the plan in one line."""
    to = f" -> {plan.after}" if plan.after else ""
    how = [plan.lockfile]
    if plan.state in (PlanState.READY, PlanState.APPLIED, PlanState.ROLLED_BACK):
        how.append(str(plan.strategy))
    if plan.major:
        how.append("major version")
    if plan.direct is False:
        how.append("transitive")
    return f"{plan.package} {plan.before}{to} ({', '.join(how)})"


def _wrapped(words: str) -> list[str]:
    return textwrap.wrap(
        words, WIDTH, initial_indent=_INDENT, subsequent_indent=_INDENT, break_on_hyphens=False
    )


def fix_text(report: FixReport) -> str:
    verb = "applied" if report.applied else "planned"
    lines = [
        f"triage fix: {report.findings} active finding(s), {report.fixed} {verb}"
        + ("" if report.plans else " (nothing to fix)")
    ]
    for plan in report.plans:
        lines.append(f"{plan.state.upper():<11} {plan_line(plan)}")
        lines += _wrapped(f"for {', '.join(plan.findings)}")
        if plan.others:
            lines += _wrapped(f"also moves {', '.join(_move(m) for m in plan.others)}")
        if plan.parent:
            lines += _wrapped(f"needs its parent moved: {plan.parent}")
        if plan.skipped:
            lines += _wrapped(f"passed over (yanked): {', '.join(plan.skipped)}")
        lines += _wrapped(plan.reason)
        if plan.command:
            lines += _wrapped(f"run: {plan.command}")
    if report.rescan:
        lines.append(report.rescan)
    for pull in report.pulls:
        superseded = ", ".join(f"#{n}" for n in pull.superseded)
        where = f" #{pull.number} {pull.url}" if pull.number is not None else ""
        lines.append(
            f"pull request for {pull.group}: {pull.action}{where}"
            + (f" (closed {superseded}, superseded)" if superseded else "")
            + (f": {pull.reason}" if pull.reason else "")
        )
    if report.not_checked:
        lines.append(f"index not asked: {report.not_checked}")
    if not report.applied and any(p.state is PlanState.READY for p in report.plans):
        lines.append("--apply writes the ready plans and re-scans")
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "lockfile": plan.lockfile,
        "package": plan.package,
        "from": plan.before,
        "to": plan.after,
        "state": str(plan.state),
        "strategy": str(plan.strategy),
        "major": plan.major,
        "direct": plan.direct,
        "findings": list(plan.findings),
        "removes": list(plan.removes),
        "brings": list(plan.brings),
        "moves": [{"package": m.package, "from": m.before, "to": m.after} for m in plan.moves],
        "parent": plan.parent,
        "command": plan.command,
        "skipped": list(plan.skipped),
        "reason": plan.reason,
    }


def fix_json(report: FixReport) -> str:
    document = {
        "schema": Schema.FIX,
        "findings": report.findings,
        "fixed": report.fixed,
        "applied": report.applied,
        "rescan": report.rescan,
        "not_checked": report.not_checked,
        "plans": [plan_json(p) for p in report.plans],
        "pulls": [
            {
                "group": p.group,
                "action": p.action,
                "number": p.number,
                "url": p.url,
                "superseded": list(p.superseded),
                "reason": p.reason,
            }
            for p in report.pulls
        ],
    }
    return json.dumps(document, indent=2) + "\n"


FIX_RENDERERS = {Format.TEXT: fix_text, Format.JSON: fix_json}


# --- the fix pull request -----------------------------------------------------------------------

FIX_MARKER = "<!-- triage:fix group={} -->"
PLAN_MARKER = "<!-- triage:fix-plan {} -->"


class FixedFinding(Struct, frozen=True):
    """A finding a pull request fixes, as its body lists it."""

    key: str
    advisory: str
    severity: str
    issue: int | None  # its tracking issue's number in the repository


def pr_title(plans: Sequence[Plan]) -> str:
    moved = ", ".join(f"{p.package} {p.after}" for p in plans if p.after and p.after != p.before)
    return f"triage fix: upgrade {moved}"[:200]


def pr_body(
    plans: Sequence[Plan], fixed: Sequence[FixedFinding], *, verdict: str, markers: tuple[str, str]
) -> str:
    """Each finding fixed (advisory, severity, tracking issue: `Fixes #N`), the plan table,
    the re-scan's verdict; the hidden markers that find it again."""
    lines = [*markers, "", "This pull request was opened by `triage fix`.", ""]
    closing = sorted({f.issue for f in fixed if f.issue is not None})
    if closing:
        lines += [", ".join(f"Fixes #{n}" for n in closing), ""]
    lines += ["| finding | advisory | severity | tracking issue |", "|---|---|---|---|"]
    for item in fixed:
        issue = f"#{item.issue}" if item.issue is not None else "none"
        lines.append(
            f"| {escape.code(item.key)} | {escape.code(item.advisory)} | {item.severity} "
            f"| {issue} |"
        )
    lines += [
        "",
        "| package | from | to | lockfile | strategy | also moves |",
        "|---|---|---|---|---|---|",
    ]
    for plan in plans:
        others = ", ".join(_move(m) for m in plan.others) or "nothing"
        major = " (major)" if plan.major else ""
        lines.append(
            f"| {escape.code(plan.package)} | {escape.text(plan.before)} "
            f"| {escape.text(plan.after or '')}{major} | {escape.code(plan.lockfile)} "
            f"| {plan.strategy} | {escape.text(others)} |"
        )
    lines += ["", f"Re-scan of the changed files: {escape.text(verdict)}.", ""]
    return "\n".join(lines)
