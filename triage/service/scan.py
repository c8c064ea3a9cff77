"""Scan: the locked packages of a project (its working tree, or a ref of its repository)
matched against the database, with the policy applied. The one assembly every use case
that scans goes through."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from msgspec import Struct
from msgspec.structs import replace

from triage import lockfiles, store
from triage.core import index, matching, policy
from triage.errors import LockfileError
from triage.models import (
    AdvisoriesConfig,
    Config,
    Level,
    LockfileContents,
    LockfileRead,
    Package,
    ScanConfig,
    ScanResult,
    Unpinned,
)
from triage.service import sync
from triage.service.workspace import Workspace

if TYPE_CHECKING:
    from triage.core import report
    from triage.models import IndexNote
    from triage.service.trees import TreeSide


class Project(Struct, frozen=True):
    """What a scan reads: the policy that applies, and every locked package."""

    config: Config
    packages: list[Package]
    unpinned: list[Unpinned]
    read: list[LockfileRead]
    pyproject_text: str  # only to tell direct dependencies from transitive ones

    def dependencies(self) -> dict[str, report.Dependency]:
        from triage.core import tracked  # what audits track: not needed by a scan

        direct = lockfiles.direct_names(self.pyproject_text)
        return tracked.dependencies(self.packages, direct)


def summary(
    contents: Sequence[LockfileContents],
) -> tuple[list[Package], list[Unpinned], list[LockfileRead]]:
    """Every package and unpinned requirement of the lockfiles read, and what each held."""
    packages = [p for c in contents for p in c.packages]
    unpinned = [u for c in contents for u in c.unpinned]
    read = [
        LockfileRead(
            c.path,
            _shown_format(c.path),
            len(c.packages),
            len(c.unpinned),
            c.members,
            c.includes,
        )
        for c in contents
    ]
    return packages, unpinned, read


def _shown_format(path: str) -> str:
    kind = lockfiles.lockfile_format(PurePosixPath(path))
    return kind.shown if kind is not None else ""


def read_lockfiles(
    root: Path,
    explicit: Sequence[Path],
    scan: ScanConfig,
    *,
    required: bool = True,
    cache: lockfiles.ReadingCache | None = None,
) -> list[LockfileContents]:
    """Every lockfile named with --lockfile, else every one discovered under `root`; finding
    none is bad input when `required`, never a clean report over nothing. With a cache, an
    unchanged lockfile's reading is taken from it rather than parsed again."""
    paths = list(explicit) if explicit else lockfiles.discover(root, scan)
    if not paths and required:
        raise LockfileError(
            f"{root}: no lockfile found (looked for {lockfiles.CONVENTIONS})",
            hint="run triage at the repository's root, name the file with --lockfile, or "
            "add [scan] include globs to deny.toml",
        )
    inside = root.resolve()
    # A lockfile named from outside the project reads its includes inside its own folder.
    return [
        lockfiles.read_lockfile(
            path, root if path.resolve().is_relative_to(inside) else path.parent, cache
        )
        for path in paths
    ]


def _working_tree_pyproject(root: Path) -> str:
    """pyproject.toml's text: a file that cannot be read or decoded tells nothing rather than
    stopping the command."""
    try:
        return (root / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def working_tree(ws: Workspace, cache: lockfiles.ReadingCache | None = None) -> Project:
    packages, unpinned, read = summary(
        read_lockfiles(ws.root, ws.lockfiles, ws.config.scan, cache=cache)
    )
    return Project(ws.config, packages, unpinned, read, _working_tree_pyproject(ws.root))


def at_ref_side(ws: Workspace, db: store.Database, ref: str) -> tuple[Project, TreeSide]:
    """`at_ref`, and the side of the tree it read (blob ids, for the witness)."""
    from triage import gitrepo
    from triage.service import trees  # git objects: only for a ref

    sha = gitrepo.resolve(ws.root, ref)
    # The policy committed at the ref, at the path --config names inside the repository.
    config_path = trees.repo_relative(ws.config_path, ws.root)
    paths = (config_path, trees.trust_dir_in_repo(ws))
    side = trees.read_side(ws.root, sha, ref, db=db, paths=paths, cached=not ws.reference)
    packages, unpinned, read = summary(side.contents)
    project = Project(side.config, packages, unpinned, read, trees.pyproject_at(ws.root, sha))
    return project, side


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Matching allocates tens of thousands of small objects and frees none of them in a
    cycle: the cyclic collector's passes over them were a seventh of a large scan. Paused for
    its length, back on after (a long-running schedule keeps collecting between runs)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def match(
    db: store.Database,
    packages: Sequence[Package],
    unpinned: Sequence[Unpinned] = (),
    *,
    reference: bool = False,
) -> tuple[matching.MatchResult, tuple[Unpinned, ...]]:
    """Findings of the pinned packages; the unpinned requirements (and versions that are not
    PEP 440) with the advisories that affect a version they admit. The match index names the
    records that affect each pinned version; only those records are read and matched in
    full. With `reference`, no index: every record of every locked name is matched (what the
    index is checked against, and what witness verify recomputes with)."""
    with _collector_paused():
        return _match(db, packages, unpinned, reference=reference)


def _match(
    db: store.Database,
    packages: Sequence[Package],
    unpinned: Sequence[Unpinned],
    *,
    reference: bool,
) -> tuple[matching.MatchResult, tuple[Unpinned, ...]]:
    advisories_store = store.AdvisoryStore(db)
    if reference:
        names = {p.name for p in packages} | {u.name for u in unpinned}
        records, grouped = advisories_store.candidates(names)
        plain = matching.match(packages, records, grouped)
        both = (*unpinned, *plain.unmatchable)
        return plain, matching.possibly_affected(both, records, grouped)
    checked = advisories_store.compiled(p.name for p in packages)
    hits = index.hits(packages, checked.compiled)
    whole = hits.whole | {u.name for u in unpinned}
    only = {name: ids for name, ids in hits.by_name.items() if name not in whole}
    advisories, groups = advisories_store.candidates(
        hits.by_name.keys() | whole, only, read=checked, undecided=hits.undecided
    )
    found = matching.match(packages, advisories, groups, named=hits.by_package)
    if checked.rederived:
        found = replace(found, warnings=(_rederived(checked.rederived),))
    # A version that is not PEP 440 is as good as unpinned: possibly affected by its name's
    # advisories, judged by `[advisories] unpinned` like the rest.
    every = (*unpinned, *found.unmatchable)
    return found, matching.possibly_affected(every, advisories, groups)


def _rederived(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"the match index of {len(names)} package(s) did not match their advisory records "
        f"({shown}): they were matched against the records themselves and re-derived; run "
        "`triage db verify` to check the rest of the database"
    )


def assess(
    db: store.Database, project: Project, now: dt.datetime, *, reference: bool = False
) -> ScanResult:
    """Match the project's packages and apply its policy (`reference`: see `match`)."""
    matched, unpinned = match(db, project.packages, project.unpinned, reference=reference)
    info = sync.database_info(db, now)
    assessed, unused, diagnostics = policy.apply_policy(
        matched.findings,
        project.config.advisories,
        now,
        newest_modified=store.parse_stamp(info.newest_modified),
        unpinned=unpinned,
    )
    return ScanResult(
        findings=tuple(assessed),
        unpinned=unpinned,
        diagnostics=tuple(diagnostics),
        unused_ignores=tuple(unused),
        database=info,
        lockfiles=tuple(project.read),
        package_count=len(project.packages),
        warnings=matched.warnings,
    )


UNSEALED_NOTES = (
    "the index notes the last audit kept (yanked files, project status) do not match their "
    "seal: the database was edited, so none is shown; run `triage audit` to ask the index again"
)


def recorded_notes(
    db: store.Database, packages: Sequence[Package], *, config: AdvisoriesConfig
) -> tuple[tuple[IndexNote, ...], dt.datetime | None, tuple[str, ...]]:
    """What the last audit found the index saying of the releases `packages` still lock,
    judged by `config` (no request is made), when the index said it, and a warning when the
    kept notes cannot be believed."""
    kept = store.IndexNoteStore(db).recorded()
    warnings = (UNSEALED_NOTES,) if kept.broken else ()
    locked = {(matching.normalize_name(p.name), p.version) for p in packages}
    judged = [
        replace(note, level=policy.index_level(note.kind, config))
        for note in kept.notes
        if (matching.normalize_name(note.package), note.version) in locked
    ]
    return tuple(n for n in judged if n.level is not Level.ALLOW), kept.checked, warnings


def scan_project(ws: Workspace) -> tuple[ScanResult, Project]:
    """The working tree's findings, and what was read, with what the last audit of this
    repository found the index saying of the releases it still locks. An empty database is
    first filled from the embedded snapshot, so a first run works offline."""
    with ws.database() as db:
        caches = store.Caches(db)
        project = working_tree(ws, lockfiles.NoCache() if ws.reference else caches)
    sync.ensure_data(ws)
    with ws.database() as db:
        result = assess(db, project, ws.now(), reference=ws.reference)
        notes, checked, unsealed = recorded_notes(
            db, project.packages, config=project.config.advisories
        )
    warnings = (*result.warnings, *caches.rejected, *unsealed)
    return replace(result, warnings=warnings, index_notes=notes, index_checked=checked), project


def scan(ws: Workspace) -> ScanResult:
    """Findings of the working tree with the policy applied."""
    return scan_project(ws)[0]


def pin_lines(
    packages: Sequence[Package], text_of: Callable[[str], str | None]
) -> dict[tuple[str, str, str], int]:
    """The line pinning each package, by lockfile; `text_of` gives a lockfile's text by its
    shown path (None when it cannot be read: its packages get no line)."""
    by_file: dict[str, list[Package]] = {}
    for package in packages:
        by_file.setdefault(package.lockfile, []).append(package)
    found: dict[tuple[str, str, str], int] = {}
    for shown, listed in by_file.items():
        kind = lockfiles.lockfile_format(PurePosixPath(shown))
        kind = kind or lockfiles.BY_ID[lockfiles.FormatId.REQUIREMENTS]
        # A requirements reading already knows its lines (its includes' too).
        text = "" if kind.id is lockfiles.FormatId.REQUIREMENTS else text_of(shown)
        if text is not None:
            found.update(kind.pin_lines(text, listed))
    return found


def lockfile_path(ws: Workspace, shown: str) -> Path:
    """Where a lockfile shown as `shown` is: under the root, or (named with --lockfile from
    outside it) as it was given."""
    given = Path(shown)
    if given.is_absolute():
        return given
    inside = ws.root / given
    return inside if inside.exists() or not given.exists() else given


def sarif_log(ws: Workspace, result: ScanResult, project: Project) -> str:
    """The scan's SARIF log for code scanning, located in the working tree's lockfiles."""
    from triage import __version__
    from triage.core import sarif

    def text_of(shown: str) -> str | None:
        try:
            return lockfile_path(ws, shown).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    lines = pin_lines(project.packages, text_of)
    return sarif.document(((f, None) for f in result.findings), lines, __version__)
