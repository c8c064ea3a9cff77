"""The scan witness (SPEC §12): recorded by `scan`, `diff` and `audit` with `--witness FILE`,
recomputed by `triage witness verify` from the same git objects (or the working tree's
files) and database."""

from __future__ import annotations

import binascii
import datetime as dt
from pathlib import Path
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from triage import __version__
from triage.core import diffing
from triage.core import witness as core
from triage.errors import InputError, LockfileError
from triage.models import ScanResult
from triage.provenance.trust_store import DirectoryFiles
from triage.service.scan import Project, lockfile_path
from triage.service.trees import TreeSide, repo_relative
from triage.service.workspace import Workspace

ABSENT = "absent"


def pinned(ws: Workspace, day: dt.date | None = None) -> Workspace:
    """The workspace with its clock at the start of `day` (default: today, UTC): the policy's
    time rules then give the same answer all day, and the witness can be recomputed."""
    day = day or ws.now().astimezone(dt.UTC).date()
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return replace(ws, clock=lambda: moment)


def _digest(path: Path) -> str:
    try:
        return core.sha256(path.read_bytes())
    except FileNotFoundError:
        return ABSENT
    except OSError as exc:
        raise InputError(f"{path}: cannot be read for the witness: {exc.strerror}") from exc


def _shown(ws: Workspace, path: Path) -> str:
    try:
        return path.resolve().relative_to(ws.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _trust_files(ws: Workspace) -> dict[str, str]:
    folder = ws.trust_dir
    if not folder.is_dir():
        return {}
    return {_shown(ws, f): _digest(f) for f in sorted(folder.rglob("*")) if f.is_file()}


def _common(ws: Workspace, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "triage": __version__,
        "as_of": ws.now().date().isoformat(),
    }


def _database(ws: Workspace) -> str:
    from triage import store

    with ws.database() as db:
        return store.AdvisoryStore(db).content_digest()


def _outcome(ws: Workspace, findings: Any, fails: bool) -> dict[str, Any]:
    return {
        "database": _database(ws),
        "findings": core.findings_record(findings),
        "verdict": "fail" if fails else "pass",
    }


def working_tree_fields(
    ws: Workspace, command: str, result: ScanResult, *, project: Project
) -> dict[str, Any]:
    """What a scan of the working tree read and found; the clock must be `pinned`."""
    paths = [path for read in project.read for path in (read.path, *read.includes)]
    config = ws.config_path
    return {
        **_common(ws, command),
        "subject": {"kind": "working-tree"},
        "lockfiles": {path: _digest(lockfile_path(ws, path)) for path in sorted(set(paths))},
        "policy": {_shown(ws, config): _digest(config)},
        "trust_store": _trust_files(ws),
        **_outcome(ws, result.findings, result.fails),
    }


def _blobs(side: TreeSide, prefix: str = "") -> dict[str, str]:
    return {f"{prefix}{path}": f"git-blob:{blob}" for path, blob in side.blobs.items()}


def commit_fields(
    ws: Workspace, command: str, result: ScanResult, *, side: TreeSide, config_path: str
) -> dict[str, Any]:
    """What a scan of one commit (`audit --ref`) read from git objects and found."""
    policy = _blobs(side).get(config_path, ABSENT)
    lockfiles = {k: v for k, v in _blobs(side).items() if k != config_path}
    return {
        **_common(ws, command),
        "subject": {"kind": "commit", "commit": side.sha},
        "lockfiles": lockfiles,
        "policy": {config_path: policy},
        "trust_store": {path: f"git-blob:{blob}" for path, blob in side.trust.items()},
        **_outcome(ws, result.findings, result.fails),
    }


def diff_fields(
    ws: Workspace, result: diffing.DiffResult, base: TreeSide, *, head: TreeSide
) -> dict[str, Any]:
    """What a diff read from both sides' git objects, and what it found new."""
    config_path = repo_relative(ws.config_path, ws.root)
    sides = {**_blobs(base, "base:"), **_blobs(head, "head:")}
    policy_keys = {f"base:{config_path}", f"head:{config_path}"}
    base_locks = {p: b for p, b in base.blobs.items() if p != config_path}
    head_locks = {p: b for p, b in head.blobs.items() if p != config_path}
    changed = sorted(
        path
        for path in base_locks.keys() | head_locks.keys()
        if base_locks.get(path) != head_locks.get(path)
    )
    return {
        **_common(ws, "diff"),
        "subject": {"kind": "diff", "base": base.sha, "head": head.sha},
        "changed": changed,
        "lockfiles": {k: v for k, v in sides.items() if k not in policy_keys},
        "policy": {key: sides.get(key, ABSENT) for key in sorted(policy_keys)},
        "trust_store": {
            **{f"base:{p}": f"git-blob:{b}" for p, b in base.trust.items()},
            **{f"head:{p}": f"git-blob:{b}" for p, b in head.trust.items()},
        },
        **_outcome(ws, result.new, result.fails),
    }


def audit_fields(ws: Workspace, ref: str | None) -> dict[str, Any]:
    """The witness of an audit: the scan of what it audited (the working tree, or the commit
    `--ref` names), as of the day, on the database the audit left."""
    from triage.service import scan

    if ref is None:
        result, project = scan.scan_project(ws)
        return working_tree_fields(ws, "audit", result, project=project)
    with ws.database() as db:
        project, side = scan.at_ref_side(ws, db, ref)
        result = scan.assess(db, project, ws.now())
    return commit_fields(
        ws, "audit", result, side=side, config_path=repo_relative(ws.config_path, ws.root)
    )


class WitnessTarget(Struct, frozen=True):
    """Where a witness is written, and the key of `triage trust keygen` that signs it."""

    path: Path
    key_name: str | None = None


def write(ws: Workspace, target: WitnessTarget, fields: dict[str, Any]) -> None:
    """The witness as a DSSE envelope of its in-toto statement, signed with the private key
    `key_name` (from `triage trust keygen`) when one is named."""
    from triage.provenance import signing

    path, key_name = target.path, target.key_name
    payload = core.statement(fields)
    signatures = []
    if key_name is not None:
        key_id = signing.KEY_PREFIX + key_name
        if key_id not in signing.load_public_keys(DirectoryFiles(ws.trust_dir)):
            raise InputError(
                f"{ws.trust_dir}/keys/{key_name}.pub: no such public key in the trust store",
                hint=f"create the key with `triage trust keygen {key_name}`",
            )
        private = ws.settings.private_keys / f"{key_name}.key"
        signatures.append(
            (key_id, signing.sign_bytes(core.pae(core.PAYLOAD_TYPE, payload), private))
        )
    try:
        path.write_text(core.envelope(payload, signatures), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the witness: {exc.strerror}") from exc


def _recompute(ws: Workspace, recorded: dict[str, Any]) -> dict[str, Any]:
    """The witness's fields recomputed from the same inputs through the reference path (no
    match index, no cached reading), judged with the verifier's policy."""
    from triage.service import diff, scan

    subject, command = recorded["subject"], recorded["command"]
    ws = replace(ws, reference=True)
    if subject["kind"] == "working-tree":
        result, project = scan.scan_project(ws)
        return working_tree_fields(ws, command, result, project=project)
    if subject["kind"] == "commit":
        config_path = repo_relative(ws.config_path, ws.root)
        with ws.database() as db:
            project, side = scan.at_ref_side(ws, db, subject["commit"])
            result = scan.assess(db, project, ws.now(), reference=True)
        return commit_fields(ws, command, result, side=side, config_path=config_path)
    changes, base, head = diff.diff_sides(ws, subject["base"], subject["head"])
    return diff_fields(ws, changes, base, head=head)


MAX_WITNESS_BYTES = 64 * 1024 * 1024


class Verification(Struct, frozen=True):
    problems: list[str]  # each mismatch or refusal, named; none: the witness holds
    judged_as_of: dt.date  # the day the verdict is judged at: the witness's own
    verified_at: dt.datetime
    signer: str | None  # the trust-store key that signed it; None: unsigned


def _read(path: Path) -> core.Opened:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_WITNESS_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror}") from exc
    if len(data) > MAX_WITNESS_BYTES:
        raise InputError(f"{path}: larger than any witness ({MAX_WITNESS_BYTES} bytes)")
    try:
        return core.open_envelope(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, binascii.Error) as exc:
        raise InputError(
            f"{path}: not a triage witness: {exc}",
            hint="verify a file written by `--witness` (a DSSE envelope of an in-toto statement)",
        ) from exc


def _signer(
    ws: Workspace, opened: core.Opened, allow_unsigned: bool
) -> tuple[str | None, list[str]]:
    """The trust-store key whose signature holds, or why the witness is refused."""
    from triage.provenance import signing

    if not opened.signatures:
        if allow_unsigned:
            return None, []
        return None, ["the witness is not signed; refused (--allow-unsigned accepts it)"]
    keys = signing.load_public_keys(DirectoryFiles(ws.trust_dir))
    signed = core.pae(core.PAYLOAD_TYPE, opened.payload)
    unknown, broken = [], []
    for key_id, signature in opened.signatures:
        key = keys.get(key_id)
        if key is None:
            unknown.append(
                f"signed by {key_id}, which the trust store's keys/ does not hold; refused"
            )
        elif signing.verifies(key, signature, signed):
            return key_id, []
        else:
            broken.append(f"the signature by {key_id} does not verify: the statement was changed")
    # A signature that does not verify is never excused; an unknown key is, like none at all.
    return None, broken if allow_unsigned else unknown + broken


def verify(ws: Workspace, path: Path, *, allow_unsigned: bool = False) -> Verification:
    """The witness at `path` checked: its signature by a trust-store key, then recomputed
    from the same inputs, on the verifier's policy, as of the witness's day; every mismatch
    named."""
    ws.require_database()
    opened = _read(path)
    recorded = opened.predicate
    now = ws.now()
    signer, problems = _signer(ws, opened, allow_unsigned)
    try:
        day = dt.date.fromisoformat(recorded["as_of"])
    except ValueError as exc:
        raise InputError(f"{path}: as_of is not a date: {recorded['as_of']!r}") from exc
    if day > now.astimezone(dt.UTC).date():
        problems.append(f"as_of {day.isoformat()} is in the future; refused")
        return Verification(problems, day, now, signer)
    subject = recorded["subject"]
    if subject["kind"] == "working-tree":
        ours = _shown(ws, ws.config_path)
        theirs = sorted(recorded["policy"])
        if theirs != [ours]:
            problems.append(
                f"policy: made with {', '.join(theirs) or 'none'}, verified with {ours} (the "
                "verifier's policy judges)"
            )
    try:
        again = _recompute(pinned(ws, day), recorded)
    except LockfileError as exc:
        return Verification(
            [*problems, f"a lockfile no longer reads: {exc.message}"], day, now, signer
        )
    return Verification(problems + core.compare(recorded, again), day, now, signer)
