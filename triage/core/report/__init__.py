"""Reports (DESIGN: core/report/): what a scan, a diff, a tracking issue and a trust check
say, as text, JSON and markdown. SARIF lives in core/sarif.py. A report's module loads when
one of its names is first used: a scan does not load the issues' or the diff's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.exports import lazy

if TYPE_CHECKING:
    from triage.core.report.diff import (
        DIFF_RENDERERS,
        PR_COMMENT_MARKER,
        diff_json,
        diff_text,
        pr_comment,
    )
    from triage.core.report.fix import (
        FIX_MARKER,
        FIX_RENDERERS,
        PLAN_MARKER,
        FixedFinding,
        fix_json,
        fix_text,
        plan_line,
        pr_body,
        pr_title,
    )
    from triage.core.report.issues import (
        Dependency,
        index_issue_body,
        issue_body,
        issue_title,
        license_issue_body,
        suggested_response,
        untrusted_issue_body,
    )
    from triage.core.report.scan import (
        RENDERERS,
        finding_json,
        ignore_json,
        ignore_line,
        note_json,
        note_text,
        scan_json,
        scan_markdown,
        scan_text,
        unpinned_json,
    )
    from triage.core.report.trust import trust_artifact_json, trust_json, trust_text

_NAMES = {
    "diff": (
        "DIFF_RENDERERS",
        "PR_COMMENT_MARKER",
        "diff_json",
        "diff_text",
        "pr_comment",
    ),
    "fix": (
        "FIX_MARKER",
        "FIX_RENDERERS",
        "PLAN_MARKER",
        "FixedFinding",
        "fix_json",
        "fix_text",
        "plan_line",
        "pr_body",
        "pr_title",
    ),
    "issues": (
        "Dependency",
        "index_issue_body",
        "issue_body",
        "issue_title",
        "license_issue_body",
        "suggested_response",
        "untrusted_issue_body",
    ),
    "scan": (
        "RENDERERS",
        "finding_json",
        "ignore_json",
        "ignore_line",
        "note_json",
        "note_text",
        "scan_json",
        "scan_markdown",
        "scan_text",
        "unpinned_json",
    ),
    "trust": ("trust_artifact_json", "trust_json", "trust_text"),
}
__getattr__ = lazy(__name__, _NAMES)

__all__ = [
    "DIFF_RENDERERS",
    "FIX_MARKER",
    "FIX_RENDERERS",
    "PLAN_MARKER",
    "PR_COMMENT_MARKER",
    "RENDERERS",
    "Dependency",
    "FixedFinding",
    "diff_json",
    "diff_text",
    "finding_json",
    "fix_json",
    "fix_text",
    "ignore_json",
    "ignore_line",
    "index_issue_body",
    "issue_body",
    "issue_title",
    "license_issue_body",
    "note_json",
    "note_text",
    "plan_line",
    "pr_body",
    "pr_comment",
    "pr_title",
    "scan_json",
    "scan_markdown",
    "scan_text",
    "suggested_response",
    "trust_artifact_json",
    "trust_json",
    "trust_text",
    "unpinned_json",
    "untrusted_issue_body",
]
