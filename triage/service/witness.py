"""The scan witness (SPEC §12): recorded by `scan`, `diff` and `audit` with `--witness FILE`,
recomputed by `triage witness verify` from the same git objects (or the working tree's
files) and database."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from triage import __version__
from triage.core import diffing
from triage.core import witness as core
from triage.errors import InputError
from triage.models import ScanResult
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


def _inside(ws: Workspace, path: Path) -> Path:
    return path if path.is_absolute() else ws.root / path


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
    ws: Workspace, command: str, result: ScanResult, project: Project
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
    ws: Workspace, command: str, result: ScanResult, side: TreeSide, config_path: str
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
    ws: Workspace, result: diffing.DiffResult, base: TreeSide, head: TreeSide
) -> dict[str, Any]:
    """What a diff read from both sides' git objects, and what it found new."""
    config_path = repo_relative(ws.config_path, ws.root)
    sides = {**_blobs(base, "base:"), **_blobs(head, "head:")}
    policy_keys = {f"base:{config_path}", f"head:{config_path}"}
    return {
        **_common(ws, "diff"),
        "subject": {"kind": "diff", "base": base.sha, "head": head.sha},
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
        return working_tree_fields(ws, "audit", result, project)
    with ws.database() as db:
        project, side = scan.at_ref_side(ws, db, ref)
        result = scan.assess(db, project, ws.now())
    return commit_fields(ws, "audit", result, side, repo_relative(ws.config_path, ws.root))


def write(path: Path, fields: dict[str, Any]) -> None:
    try:
        path.write_text(core.seal(fields), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the witness: {exc.strerror}") from exc


def _recompute(ws: Workspace, recorded: dict[str, Any]) -> dict[str, Any]:
    from triage.service import diff, scan

    subject = recorded.get("subject")
    command = str(recorded.get("command"))
    if not isinstance(subject, dict):
        raise InputError("the witness names no subject", hint="verify a witness triage wrote")
    kind = subject.get("kind")
    if kind == "working-tree":
        policy = recorded.get("policy")
        config = _inside(
            ws, Path(next(iter(policy), "deny.toml") if isinstance(policy, dict) else "deny.toml")
        )
        if not config.resolve().is_relative_to(ws.root.resolve()):
            raise InputError(
                f"the witness names a policy outside the repository: {config}",
                hint="verify a witness of this repository, with --repo",
            )
        ws = replace(ws, config_path=config, config_required=False)
        result, project = scan.scan_project(ws)
        return working_tree_fields(ws, command, result, project)
    if kind == "commit":
        commit = str(subject.get("commit"))
        config_path = repo_relative(ws.config_path, ws.root)
        with ws.database() as db:
            project, side = scan.at_ref_side(ws, db, commit)
            result = scan.assess(db, project, ws.now())
        return commit_fields(ws, command, result, side, config_path)
    if kind == "diff":
        changes, base, head = diff.diff_sides(
            ws, str(subject.get("base")), str(subject.get("head"))
        )
        return diff_fields(ws, changes, base, head)
    raise InputError(f"the witness's subject {kind!r} is not one triage records")


def verify(ws: Workspace, path: Path) -> list[str]:
    """Every mismatch between the witness at `path` and a recomputation from the same inputs
    (an empty list: it holds)."""
    ws.require_database()
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a witness (not JSON: {exc})") from exc
    if not isinstance(recorded, dict) or recorded.get("schema") != core.SCHEMA:
        raise InputError(f"{path}: not a triage witness (schema {core.SCHEMA} expected)")
    problems = []
    if not core.unseal(recorded):
        problems.append("the witness itself: its digest does not match its fields (edited)")
    try:
        day = dt.date.fromisoformat(str(recorded.get("as_of")))
    except ValueError as exc:
        raise InputError(f"{path}: as_of is not a date: {recorded.get('as_of')!r}") from exc
    now = _recompute(pinned(ws, day), recorded)
    return problems + core.compare(recorded, now)
