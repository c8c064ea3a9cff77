"""One side of a diff (or an audited ref) read from git objects: its policy, trust store and
locked packages. Nothing is checked out; lockfile readings are cached by blob id."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from triage import __version__, config, gitrepo, lockfiles, store
from triage.errors import ConfigError, LockfileError
from triage.models import Config, LockfileContents, Package

CACHE_PREFIX = f"triage-{__version__}:"


@dataclass(frozen=True)
class TreeSide:
    sha: str
    config: Config
    trust: dict[str, str]  # path -> blob id, under the trust store
    packages: list[Package]


def _config_at(repo: Path, entries: dict[str, gitrepo.TreeEntry], path: str, label: str) -> Config:
    entry = entries.get(path)
    if entry is None:
        return Config(path=f"{label}:{path}")
    data = gitrepo.read_blobs(repo, [entry.blob])[entry.blob]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}:{path}", [f"not UTF-8 text: {exc}"]) from exc
    return config.parse_config(text, f"{label}:{path}")


def _lockfiles_at(
    repo: Path,
    entries: dict[str, gitrepo.TreeEntry],
    label: str,
    caches: store.Caches,
) -> list[LockfileContents]:
    """Every lockfile of a tree; readings are cached by blob id, so an unchanged or moved
    lockfile is never parsed twice. Symlinks are not followed."""
    wanted = [
        e
        for e in entries.values()
        if e.mode != gitrepo.SYMLINK_MODE and lockfiles.is_lockfile_path(PurePosixPath(e.path))
    ]
    found: list[LockfileContents] = []
    missing: list[gitrepo.TreeEntry] = []
    for entry in wanted:
        cached = caches.cached_lockfile(CACHE_PREFIX + entry.blob)
        if cached is None:
            missing.append(entry)
        else:
            found.append(lockfiles.contents_from_json(cached, entry.path))
    if not missing:
        return found
    # Requirements files may -r include other text files of the tree: write those too.
    includes = any(lockfiles.lockfile_format(Path(e.path)) == "requirements" for e in missing)
    to_write = missing + [
        e
        for e in entries.values()
        if includes
        and e.path.endswith(".txt")
        and e.mode != gitrepo.SYMLINK_MODE
        and e not in missing
    ]
    blobs = gitrepo.read_blobs(repo, sorted({e.blob for e in to_write}))
    with tempfile.TemporaryDirectory(prefix="triage-tree-") as scratch:
        for entry in to_write:
            target = Path(scratch, entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[entry.blob])
        for entry in missing:
            try:
                contents = lockfiles.read_lockfile(Path(scratch, entry.path), Path(scratch))
            except LockfileError as exc:
                raise LockfileError(
                    exc.message.replace(f"{scratch}/", f"{label}:"), hint=exc.hint
                ) from exc
            if lockfiles.is_self_contained(contents):
                caches.cache_lockfile(
                    CACHE_PREFIX + entry.blob, lockfiles.contents_to_json(contents)
                )
            found.append(contents)
    return found


def read_side(
    repo: Path, sha: str, label: str, db: store.Database, config_path: str, trust_dir: str
) -> TreeSide:
    entries = {e.path: e for e in gitrepo.tree(repo, sha)}
    cfg = _config_at(repo, entries, config_path, label)
    prefix = trust_dir.rstrip("/") + "/"
    trust = {path: e.blob for path, e in entries.items() if path.startswith(prefix)}
    with db.transaction():
        contents = _lockfiles_at(repo, entries, label, store.Caches(db))
    return TreeSide(sha, cfg, trust, [p for c in contents for p in c.packages])


def pyproject_at(repo: Path, sha: str) -> str:
    """pyproject.toml's text at a commit, only to tell direct dependencies from transitive
    ones: undecodable bytes are replaced rather than stopping the command."""
    entry = next((e for e in gitrepo.tree(repo, sha) if e.path == "pyproject.toml"), None)
    if entry is None:
        return ""
    return gitrepo.read_blobs(repo, [entry.blob])[entry.blob].decode("utf-8", "replace")
