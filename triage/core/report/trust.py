"""The trust check's report (triage/trust-v1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from triage.models import Schema

if TYPE_CHECKING:
    from triage.models import TrustResult


def trust_artifact_json(result: TrustResult) -> dict[str, Any]:
    return {
        "package": result.evidence.package,
        "version": result.evidence.version,
        "filename": result.evidence.filename,
        "sha256": result.evidence.sha256,
        "verdict": result.verdict.value,
        "reason": result.reason,
        "fails": result.fails,
    }


def trust_json(results: Sequence[TrustResult], mode: str) -> str:
    document = {
        "schema": Schema.TRUST,
        "mode": mode,
        "artifacts": [trust_artifact_json(r) for r in results],
    }
    return json.dumps(document, indent=2) + "\n"


def trust_text(results: Sequence[TrustResult], mode: str) -> str:
    lines = [f"trust mode: {mode}"]
    lines += [
        f"{'FAIL' if r.fails else 'ok  '}  {r.verdict.value:9}  {r.evidence.filename}  "
        f"({r.evidence.package} {r.evidence.version}): {r.reason}"
        for r in results
    ]
    counts = {
        v: sum(1 for r in results if r.verdict.value == v)
        for v in ("trusted", "untrusted", "unsigned")
    }
    lines.append(
        ", ".join(f"{n} {v}" for v, n in counts.items())
        + f"; {sum(1 for r in results if r.fails)} failing the policy"
    )
    return "\n".join(lines) + "\n"
