"""The scan witness (SPEC §12): a JSON record binding what a verdict was computed from
(triage's version, every lockfile's digest, the policy and trust-store digests, the
database's content digest, the day the policy was applied) to what came out (the findings'
digest and the verdict), sealed with a digest of itself. Canonical JSON, no wall clock but
the day: the same inputs give the same bytes, so anyone can recompute it and compare."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from triage.models import AssessedFinding

SCHEMA = "triage/witness-v1"
SEAL = "witness_digest"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def findings_record(findings: Sequence[AssessedFinding]) -> dict[str, Any]:
    """The findings as the witness binds them: their keys with status (to name a difference)
    and a digest of everything that decides the verdict."""
    facts = sorted(
        [
            str(item.finding.key),
            item.status.value,
            item.fails,
            list(item.finding.versions),
            list(item.finding.lockfiles),
            item.finding.severity.label,
            sorted(item.finding.record_ids),
        ]
        for item in findings
    )
    return {
        "keys": sorted(f"{item.finding.key} {item.status.value}" for item in findings),
        "digest": sha256(_canonical(facts)),
    }


def seal(fields: Mapping[str, Any]) -> str:
    """The witness document: the fields and the digest over them, as canonical, indented
    JSON."""
    body = {"schema": SCHEMA, **fields}
    body.pop(SEAL, None)
    return json.dumps({**body, SEAL: sha256(_canonical(body))}, sort_keys=True, indent=2) + "\n"


def unseal(document: Mapping[str, Any]) -> bool:
    """Whether the document's own digest still matches its fields."""
    body = {key: value for key, value in document.items() if key != SEAL}
    return document.get(SEAL) == sha256(_canonical(body))


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _mapping_changes(name: str, recorded: Any, now: Any) -> list[str]:
    if not isinstance(recorded, dict) or not isinstance(now, dict):
        return [] if recorded == now else [f"{name}: recorded {recorded!r}, now {now!r}"]
    problems = []
    for key in sorted(recorded.keys() | now.keys()):
        if key not in now:
            problems.append(f"{name} {key}: recorded, now absent")
        elif key not in recorded:
            problems.append(f"{name} {key}: now present, not recorded")
        elif recorded[key] != now[key]:
            problems.append(f"{name} {key}: digest {recorded[key]} recorded, {now[key]} now")
    return problems


def compare(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Every difference between a recorded witness and one recomputed from the same inputs,
    each naming what differs."""
    problems: list[str] = []
    if recorded.get("triage") != now.get("triage"):
        problems.append(f"triage version: {recorded.get('triage')} recorded, {now['triage']} now")
    for name in ("subject", "lockfiles", "policy", "trust_store"):
        problems += _mapping_changes(name, recorded.get(name), now.get(name))
    if recorded.get("database") != now.get("database"):
        problems.append(
            f"database digest: {recorded.get('database')} recorded, {now.get('database')} now"
        )
    before, after = _table(recorded.get("findings")), _table(now.get("findings"))
    if before.get("digest") != after.get("digest"):
        keys_before = {str(k) for k in before.get("keys") or [] if isinstance(k, str)}
        keys_after = {str(k) for k in after.get("keys") or [] if isinstance(k, str)}
        gone, new = sorted(keys_before - keys_after), sorted(keys_after - keys_before)
        detail = "; ".join(
            part
            for part in (
                f"no longer found: {', '.join(gone)}" if gone else "",
                f"newly found: {', '.join(new)}" if new else "",
            )
            if part
        )
        problems.append(f"finding set differs{': ' + detail if detail else ' (their facts)'}")
    if recorded.get("verdict") != now.get("verdict"):
        problems.append(f"verdict: {recorded.get('verdict')} recorded, {now.get('verdict')} now")
    return problems
