"""The scan witness (SPEC §12): an in-toto Statement (v1) in a DSSE envelope, binding what a
verdict was computed from (triage's version, every lockfile's digest, the policy and
trust-store digests, the database's content digest, the day the policy was applied) to what
came out (the findings' digest and the verdict), signed with an ed25519 key of the trust
store. Canonical JSON, no wall clock but the day: the same inputs give the same statement, so
anyone can recompute it and compare."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import Struct

from triage.models import AssessedFinding, Schema

SCHEMA = Schema.WITNESS  # the predicate's own schema, inside the statement
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:triage:witness:v1"  # an identifier, not an address
PAYLOAD_TYPE = "application/vnd.in-toto+json"
KINDS = ("working-tree", "commit", "diff")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


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


def _subjects(lockfiles: Mapping[str, str]) -> list[dict[str, Any]]:
    """The statement's subjects: each lockfile read, by the digest it was read as."""
    subjects = []
    for name, digest in sorted(lockfiles.items()):
        kind, _, value = digest.partition(":")
        if kind == "sha256":
            subjects.append({"name": name, "digest": {"sha256": value}})
        elif kind == "git-blob":
            subjects.append({"name": name, "digest": {"gitBlob": value}})
    return subjects


def statement(fields: Mapping[str, Any]) -> bytes:
    """The in-toto Statement (v1) a witness signs: the lockfiles as subjects, the rest as the
    predicate; canonical JSON, so the same inputs give the same bytes."""
    predicate = {"schema": SCHEMA, **fields}
    return _canonical(
        {
            "_type": STATEMENT_TYPE,
            "subject": _subjects(fields.get("lockfiles") or {}),
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate,
        }
    )


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, signatures: Sequence[tuple[str, str]]) -> str:
    """The DSSE envelope a witness file holds: the statement and its signatures
    ((key id, base64 signature); none for an unsigned witness)."""
    document = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key, "sig": sig} for key, sig in signatures],
    }
    return json.dumps(document, indent=2) + "\n"


class Opened(Struct, frozen=True):
    """A witness file, read: the bytes signed, the predicate, and the signatures."""

    payload: bytes
    predicate: dict[str, Any]
    signatures: tuple[tuple[str, str], ...]


def _text_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{where}: expected a table of strings")
    return value


def _check_predicate(predicate: Any) -> dict[str, Any]:
    """The predicate's every field of the type triage writes; anything else is named."""
    if not isinstance(predicate, dict):
        raise ValueError("predicate: expected a table")
    if predicate.get("schema") != SCHEMA:
        raise ValueError(f"predicate.schema: {SCHEMA} expected")
    for key in ("command", "triage", "as_of", "database", "verdict"):
        if not isinstance(predicate.get(key), str):
            raise ValueError(f"predicate.{key}: expected a string")
    if predicate["verdict"] not in ("pass", "fail"):
        raise ValueError("predicate.verdict: pass or fail expected")
    subject = _text_map(predicate.get("subject"), "predicate.subject")
    if subject.get("kind") not in KINDS:
        raise ValueError(f"predicate.subject.kind: one of {', '.join(KINDS)} expected")
    needed = {"working-tree": (), "commit": ("commit",), "diff": ("base", "head")}
    for key in needed[subject["kind"]]:
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", subject.get(key, "")):
            raise ValueError(f"predicate.subject.{key}: a commit id expected")
    for key in ("lockfiles", "policy", "trust_store"):
        _text_map(predicate.get(key), f"predicate.{key}")
    findings = predicate.get("findings")
    if (
        not isinstance(findings, dict)
        or not isinstance(findings.get("digest"), str)
        or not isinstance(findings.get("keys"), list)
        or not all(isinstance(k, str) for k in findings["keys"])
    ):
        raise ValueError("predicate.findings: expected keys (strings) and a digest")
    changed = predicate.get("changed", [])
    if not isinstance(changed, list) or not all(isinstance(p, str) for p in changed):
        raise ValueError("predicate.changed: expected a list of paths")
    return predicate


def open_envelope(text: str) -> Opened:
    """A witness file's envelope and statement, every field checked; ValueError naming the
    first that is not as triage writes it."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"not a DSSE envelope of an in-toto statement ({PAYLOAD_TYPE})")
    encoded, signatures = document.get("payload"), document.get("signatures")
    if not isinstance(encoded, str) or not isinstance(signatures, list):
        raise ValueError("payload and signatures expected")
    payload = base64.b64decode(encoded, validate=True)
    found = []
    for signature in signatures:
        if (
            not isinstance(signature, dict)
            or not isinstance(signature.get("keyid"), str)
            or not isinstance(signature.get("sig"), str)
        ):
            raise ValueError("signatures: each needs a keyid and a sig")
        found.append((signature["keyid"], signature["sig"]))
    body = json.loads(payload)
    if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"payload: not an in-toto statement ({STATEMENT_TYPE})")
    if body.get("predicateType") != PREDICATE_TYPE:
        raise ValueError(f"payload: predicateType {PREDICATE_TYPE} expected")
    predicate = _check_predicate(body.get("predicate"))
    if body.get("subject") != _subjects(predicate["lockfiles"]):
        raise ValueError("payload: its subjects are not the lockfiles its predicate names")
    return Opened(payload, predicate, tuple(found))


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
    if recorded.get("changed", []) != now.get("changed", []):
        problems.append(
            "lockfiles the change touched: "
            f"{', '.join(recorded.get('changed', [])) or 'none'} recorded, "
            f"{', '.join(now.get('changed', [])) or 'none'} between the two refs now"
        )
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
