"""One side of a diff (or an audited ref) read from git objects: its policy, trust store and
locked packages. Nothing is checked out; lockfile readings are cached by blob id."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from msgspec import Struct, field
from msgspec.structs import replace

from triage import config, gitrepo, lockfiles, store
from triage.errors import ConfigError, InputError, LockfileError
from triage.models import Config, LockfileContents, Package, ScanConfig, Unpinned
from triage.service.workspace import Workspace

BlobReader = Callable[[Sequence[str]], Mapping[str, bytes]]


def git_blobs(repo: Path) -> BlobReader:
    """Blobs from a local repository's object store."""
    return lambda ids: gitrepo.read_blobs(repo, list(ids))


class TreeSide(Struct, frozen=True):
    sha: str
    config: Config
    trust: dict[str, str]  # path -> blob id, under the trust store
    contents: list[LockfileContents]
    submodules: tuple[str, ...] = ()  # their lockfiles, if any, are not in this tree
    blobs: Mapping[str, str] = field(default_factory=dict)  # path -> blob id of what was read
    notes: tuple[str, ...] = ()  # cached readings that failed their digest (read again)

    @property
    def packages(self) -> list[Package]:
        return [p for c in self.contents for p in c.packages]

    @property
    def unpinned(self) -> list[Unpinned]:
        return [u for c in self.contents for u in c.unpinned]


def _config_at(
    read: BlobReader, entries: dict[str, gitrepo.TreeEntry], path: str, *, label: str
) -> Config | None:
    entry = entries.get(path)
    if entry is None:
        return None
    if entry.mode == gitrepo.SYMLINK_MODE:
        raise ConfigError(
            f"{label}:{path}", ["a symbolic link; the policy must be the file itself"]
        )
    data = read([entry.blob])[entry.blob]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}:{path}", [f"not UTF-8 text: {exc}"]) from exc
    return config.parse_config(text, f"{label}:{path}")


def repo_relative(path: Path, repo: Path) -> str:
    """A --config/--trust-store path (relative ones from the repository root) as a path inside
    the git tree."""
    absolute = path if path.is_absolute() else repo / path
    try:
        return absolute.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise InputError(
            f"{path}: not inside the repository {repo}",
            hint="diff reads the policy from git objects; name a file inside the repository",
        ) from None


def trust_dir_in_repo(ws: Workspace) -> str:
    """Where the trust store is inside a commit's tree: --trust-store, else trust-store/."""
    return repo_relative(ws.trust_store or Path("trust-store"), ws.root)


MAX_LINK_HOPS = 8


def _link_target(
    entry: gitrepo.TreeEntry,
    entries: dict[str, gitrepo.TreeEntry],
    links: Mapping[str, bytes],
    *,
    label: str,
) -> gitrepo.TreeEntry:
    """The regular file a symbolic link of the tree leads to, inside the tree; a link out of
    the tree, to nothing, or round in circles is refused (an installer would read something
    the diff cannot see)."""
    current = entry
    for _ in range(MAX_LINK_HOPS):
        if current.mode != gitrepo.SYMLINK_MODE:
            return current
        target = links[current.blob].decode("utf-8", "replace")
        found = lockfiles.tree_path(posixpath.dirname(current.path), target)
        following = entries.get(found) if found is not None else None
        if following is None:
            raise LockfileError(
                f"{label}:{entry.path}: a symbolic link to {target!r}, which is not a file "
                "inside the tree",
                hint="commit the lockfile itself, not a link to it",
            )
        current = following
    raise LockfileError(f"{label}:{entry.path}: symbolic links in a circle")


def _lockfiles_at(
    read: BlobReader,
    entries: dict[str, gitrepo.TreeEntry],
    label: str,
    *,
    caches: lockfiles.ReadingCache,
    scan: ScanConfig,
) -> list[LockfileContents]:
    """Every lockfile of a tree, read from blobs held in memory (never written to disk under
    the tree's names); symbolic links are followed inside the tree only. Readings are cached
    by reader and blob id, so an unchanged or moved lockfile is never parsed twice."""
    wanted = [entries[path] for path in lockfiles.select(entries, scan)]
    # Link targets are read only when a lockfile is a link (a chain may pass other links).
    linked = any(e.mode == gitrepo.SYMLINK_MODE for e in wanted)
    links = read(
        sorted({e.blob for e in entries.values() if e.mode == gitrepo.SYMLINK_MODE})
        if linked
        else []
    )
    found: list[LockfileContents] = []
    missing: list[tuple[lockfiles.LockFormat, gitrepo.TreeEntry, gitrepo.TreeEntry]] = []
    for entry in wanted:
        kind = lockfiles.lockfile_format(PurePosixPath(entry.path))
        if kind is None:
            raise LockfileError(
                f"{label}:{entry.path}: [scan] include names it, but it is not a lockfile "
                "name triage reads",
                hint=f"include only {lockfiles.CONVENTIONS} or *.txt requirements files",
            )
        target = _link_target(entry, entries, links, label=label)
        cached = caches.cached_lockfile(lockfiles.reading_key(kind.id, target.blob))
        reading = lockfiles.contents_from_json(cached, entry.path) if cached else None
        if reading is None:
            missing.append((kind, entry, target))
        else:
            found.append(reading)
    if not missing:
        return found
    # Requirements files may -r include other text files of the tree: read those too.
    includes = any(fmt.id is lockfiles.FormatId.REQUIREMENTS for fmt, _, _ in missing)
    texts = [
        e
        for e in entries.values()
        if includes and e.path.endswith(".txt") and e.mode != gitrepo.SYMLINK_MODE
    ]
    blobs = read(sorted({t.blob for _, _, t in missing} | {e.blob for e in texts}))
    files = {e.path: blobs[e.blob] for e in texts}
    for kind, entry, target in missing:
        origin = f"{label}:{entry.path}"
        lock = lockfiles.LockText(lockfiles.decode(blobs[target.blob], origin), entry.path, origin)
        contents = lockfiles.read_text(kind, lock, lockfiles.tree_includes(files, label))
        kept = lockfiles.contents_to_json(contents)
        if lockfiles.is_self_contained(contents) and kept is not None:
            caches.cache_lockfile(
                lockfiles.reading_key(kind.id, target.blob), kept, blobs[target.blob]
            )
        found.append(contents)
    return found


def read_side(
    repo: Path,
    sha: str,
    label: str,
    *,
    db: store.Database,
    paths: tuple[str, str],
    scan: ScanConfig | None = None,
    required: bool = True,
    cached: bool = True,
) -> TreeSide:
    """One commit's policy (deny.toml at `paths[0]`), trust store (under `paths[1]`) and
    locked packages; `scan`, when given, decides what is scanned instead of its own [scan]
    (in a diff the base side decides). A tree with no lockfile is refused when `required`
    (a pull request's base may have none yet). Without `cached`, every lockfile is parsed
    (no reading kept or served)."""
    caches = store.Caches(db)
    with db.transaction():
        side = read_entries(
            gitrepo.tree(repo, sha),
            git_blobs(repo),
            caches if cached else lockfiles.NoCache(),
            where=Where(sha, label, paths),
            scan=scan,
            required=required,
        )
    return replace(side, notes=tuple(caches.rejected)) if caches.rejected else side


class Where(Struct, frozen=True):
    """Which tree is read (its id and the label messages give it), and where its policy and
    trust store are; `default_policy` stands in when the tree has no policy file."""

    sha: str
    label: str
    paths: tuple[str, str]
    default_policy: Config | None = None


def read_entries(
    listed: Sequence[gitrepo.TreeEntry],
    read: BlobReader,
    caches: lockfiles.ReadingCache,
    *,
    where: Where,
    scan: ScanConfig | None = None,
    required: bool = True,
) -> TreeSide:
    """`read_side` over any tree listing and blob reader (a local repository, or GitHub's
    Git Trees and Blobs API)."""
    config_path, trust_dir = where.paths
    label = where.label
    submodules = tuple(e.path for e in listed if e.mode == gitrepo.SUBMODULE_MODE)
    entries = {e.path: e for e in listed if e.mode != gitrepo.SUBMODULE_MODE}
    cfg = _config_at(read, entries, config_path, label=label)
    if cfg is None:
        cfg = where.default_policy or Config(path=f"{label}:{config_path}")
    prefix = trust_dir.rstrip("/") + "/"
    trust = {path: e.blob for path, e in entries.items() if path.startswith(prefix)}
    contents = _lockfiles_at(read, entries, label, caches=caches, scan=scan or cfg.scan)
    if not contents and required:
        raise LockfileError(
            f"{label}: no lockfile in the tree (looked for {lockfiles.CONVENTIONS})",
            hint="commit the project's lockfile, or add [scan] include globs to deny.toml",
        )
    read_paths = [config_path] if config_path in entries else []
    read_paths += [path for c in contents for path in (c.path, *c.includes)]
    blobs = {path: entries[path].blob for path in read_paths if path in entries}
    return TreeSide(where.sha, cfg, trust, contents, submodules, blobs)


def pyproject_at(repo: Path, sha: str) -> str:
    """pyproject.toml's text at a commit, only to tell direct dependencies from transitive
    ones: undecodable bytes are replaced rather than stopping the command."""
    entry = next(
        (
            e
            for e in gitrepo.tree(repo, sha)
            if e.path == "pyproject.toml" and e.mode != gitrepo.SUBMODULE_MODE
        ),
        None,
    )
    if entry is None:
        return ""
    return gitrepo.read_blobs(repo, [entry.blob])[entry.blob].decode("utf-8", "replace")
