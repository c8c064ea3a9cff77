"""What the organisation audit's coordinator decides around the reading: which repositories
[org] audits, the task each is sent with (what is remembered of it), the default policy, and
whose issues are worth listing again."""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from triage import store
from triage.errors import ConfigError
from triage.github.org import Listed
from triage.models import OrgConfig
from triage.service.org_task import RepoOutcome, RepoTask, goals_digest, task_json
from triage.service.workspace import Workspace


def select(listed: Sequence[Listed], rules: OrgConfig) -> tuple[list[Listed], dict[str, int]]:
    """The repositories [org] audits, and how many were left out, by reason."""
    chosen: list[Listed] = []
    skipped: dict[str, int] = {}
    for repo in listed:
        name = repo.full_name.split("/", 1)[1]
        reason = None
        if repo.fork and not rules.forks:
            reason = "fork"
        elif repo.archived and not rules.archived:
            reason = "archived"
        elif not any(fnmatch.fnmatchcase(name, g) for g in rules.include) or any(
            fnmatch.fnmatchcase(name, g) for g in rules.exclude
        ):
            reason = "excluded by [org]"
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            chosen.append(repo)
    return chosen, skipped


def default_policy_text(ws: Workspace) -> str | None:
    """[org] default-policy's text (a path from the central deny.toml's folder), checked."""
    named = ws.config.org.default_policy
    if named is None:
        return None
    path = Path(named) if Path(named).is_absolute() else ws.config_path.parent / named
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            ws.config.path, [f"org.default-policy: {path} cannot be read: {exc}"]
        ) from None
    from triage.config import parse_config

    parse_config(text, str(path))
    return text


def plan(
    chosen: Sequence[Listed],
    memories: Mapping[str, store.RepoMemory],
    db: store.Database,
    *,
    common: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One task per repository, carrying what is remembered of it."""
    caches = store.Caches(db)
    orgs = store.OrgStore(db)
    tasks = []
    for repo in chosen:
        memory = memories.get(repo.full_name)
        same_branch = memory is not None and memory.branch == repo.default_branch
        remembered = memory if same_branch and memory is not None else None
        read = remembered.read if remembered else {}
        blobs = orgs.blobs(read.values())
        readings: dict[str, str] = {}
        if remembered and remembered.entries:
            from triage import lockfiles

            for path, blob in read.items():
                kind = lockfiles.lockfile_format(Path(path))
                if kind:
                    cached = caches.cached_lockfile(lockfiles.reading_key(kind.id, blob))
                    if cached is not None:
                        readings[lockfiles.reading_key(kind.id, blob)] = cached
        task = RepoTask(
            repository=repo.full_name,
            branch=repo.default_branch,
            etag=remembered.etag if remembered else None,
            entries=[list(e) for e in remembered.entries]
            if remembered and remembered.entries
            else None,
            blobs={b: base64.b64encode(d).decode() for b, d in blobs.items()},
            readings=readings,
            **common,
        )
        tasks.append(task_json(task))
    return tasks


def wants_reconciling(outcome: RepoOutcome, memory: store.RepoMemory | None, full: bool) -> bool:
    """Issues are listed and edited only when what they should say moved (or a date could
    move it: an ignore with an expiry), or the last attempt failed; else a quiet day costs
    no request for them."""
    if full or memory is None or memory.error or memory.goals != goals_digest(outcome):
        return True
    return any(
        item.ignore is not None and item.ignore.expires is not None
        for item in outcome.wanted + outcome.present
    )
