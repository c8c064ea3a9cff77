"""Use cases as plain functions: the edges feed the pure core here, and nowhere else."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from triage import (
    __version__,
    advisory_db,
    config,
    github_api,
    gitrepo,
    lockfiles,
    provenance,
    sources,
)
from triage.core import (
    diffing,
    matching,
    policy,
    report,
    rotation,
    rotation_report,
    tracking,
    trust,
)
from triage.core.matching import parse_version as parse_version_text
from triage.errors import ConfigError, InputError, LockfileError, TriageError, UpstreamError
from triage.models import (
    ArtifactEvidence,
    AssessedFinding,
    Change,
    Config,
    DatabaseInfo,
    Diagnostic,
    FindingKey,
    IgnoreRule,
    Level,
    LockfileContents,
    Package,
    ScanResult,
    Status,
    TriageRecord,
    TriageState,
    TrustResult,
    Unpinned,
)

Progress = Callable[[str, int, int | None], None]


@dataclass
class SyncCounts:
    added: int = 0
    modified: int = 0
    withdrawn: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0  # records with no PyPI package


@dataclass
class SyncReport:
    counts: SyncCounts = field(default_factory=SyncCounts)
    unreachable: list[str] = field(default_factory=list)  # messages, one per failed source
    warnings: list[str] = field(default_factory=list)  # record problems matching can live with
    used_snapshot: bool = False
    records: int = 0


def parse_timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(text[:19])
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def open_database(path: Path) -> advisory_db.AdvisoryDatabase:
    return advisory_db.AdvisoryDatabase(path)


def load_config(path: Path, *, required: bool) -> Config:
    return config.load_config(path, required=required)


def _apply_listing(
    db: advisory_db.AdvisoryDatabase,
    listing: sources.SourceListing,
    report: SyncReport,
    progress: Progress | None,
) -> Callable[[], None]:
    """Decode what changed in one source (raising before anything is written) and return the
    write step, to be run inside the sync's single transaction."""
    stored = db.stored_files(listing.source)
    changed = [
        e
        for e in listing.entries
        if e.name not in stored or stored[e.name].fingerprint != e.fingerprint
    ]
    decoded = []
    counts = report.counts
    for done, item in enumerate(sources.iter_decoded(listing, changed, report.warnings), start=1):
        decoded.append(item)
        if progress:
            progress(f"reading {listing.source}", done, len(changed))
    present = {e.name for e in listing.entries}
    gone = [name for name in stored if name not in present]
    counts.unchanged += len(listing.entries) - len(changed)

    def write() -> None:
        previous = db.stored_modified(a.id for _, a in decoded)
        for entry, advisory in decoded:
            if not advisory.affected:
                counts.skipped += 1
                db.put_file(listing.source, entry.name, entry.fingerprint, None)
                continue
            old = previous.get(advisory.id)
            if old is not None and old[0] == advisory.modified:
                counts.unchanged += 1
            else:
                if advisory.withdrawn and (old is None or not old[1]):
                    counts.withdrawn += 1
                elif old is None:
                    counts.added += 1
                else:
                    counts.modified += 1
                db.put_advisory(advisory, listing.source, sources.record_digest(advisory))
                previous[advisory.id] = (advisory.modified, advisory.withdrawn)
            db.put_file(listing.source, entry.name, entry.fingerprint, advisory.id)
        orphans = {stored[name].advisory_id for name in gone} - {None}
        for name in gone:
            db.drop_file(listing.source, name)
        for advisory_id in orphans - db.ids_still_provided(i for i in orphans if i):
            if advisory_id:
                db.drop_advisory(advisory_id)
                counts.removed += 1

    return write


def sync(
    db_path: Path,
    source_names: Sequence[str],
    now: dt.datetime,
    progress: Progress | None = None,
    *,
    require_all: bool = False,
) -> SyncReport:
    """Import every source in one transaction; fall back to the embedded snapshot when the
    database would otherwise be empty. A malformed record aborts before anything is written;
    so does an unreachable source when `require_all` (the user named the sources)."""
    report = SyncReport()
    db = open_database(db_path)
    try:
        listings = []
        with sources.scratch_dir() as scratch:
            for index, name in enumerate(source_names):
                workdir = Path(scratch, str(index))
                workdir.mkdir()
                download = (
                    (lambda got, total, name=name: progress(f"downloading {name}", got, total))
                    if progress
                    else None
                )
                try:
                    listings.append(sources.list_source(name, workdir, download))
                except UpstreamError as exc:
                    if require_all:
                        raise
                    report.unreachable.append(str(exc))
            if listings:
                stored_snapshot = db.stored_files(sources.SNAPSHOT_SOURCE)
                if stored_snapshot:
                    # Real data replaces the embedded snapshot entirely.
                    listings.append(
                        sources.SourceListing(sources.SNAPSHOT_SOURCE, "snapshot", None, [])
                    )
            elif db.record_count() == 0:
                listings.append(sources.snapshot_listing())
                report.used_snapshot = True
            writes = [_apply_listing(db, listing, report, progress) for listing in listings]
            if not listings:  # every source unreachable: the stored data stands as it was
                report.records = db.record_count()
                return report
            with db.transaction():
                for write in writes:
                    write()
                counts = report.counts
                if counts.added or counts.modified or counts.withdrawn or counts.removed:
                    db.store_groups(matching.alias_groups(db.alias_rows()))
                stamp = now.isoformat(timespec="seconds")
                db.finish_sync(
                    (
                        {
                            "source": listing.source,
                            "kind": listing.kind,
                            "revision": listing.revision,
                            "last_sync": stamp,
                            "records": len(listing.entries),
                        }
                        for listing in listings
                        if listing.entries
                    ),
                    stamp,
                )
        report.records = db.record_count()
        return report
    finally:
        db.close()


def database_info(db: advisory_db.AdvisoryDatabase, now: dt.datetime) -> DatabaseInfo:
    info = db.info()
    newest = parse_timestamp(info.newest_modified)
    return replace(info, age_days=policy.data_age_days(newest, now))


def status(db_path: Path, now: dt.datetime) -> DatabaseInfo:
    db = open_database(db_path)
    try:
        return database_info(db, now)
    finally:
        db.close()


def read_lockfiles(
    root: Path, explicit: Sequence[Path]
) -> tuple[list[Package], list[Unpinned], list[str]]:
    paths = list(explicit) if explicit else lockfiles.discover(root)
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    names = []
    for path in paths:
        contents = lockfiles.read_lockfile(path, root)
        names.append(contents.path)
        packages.extend(contents.packages)
        unpinned.extend(contents.unpinned)
    return packages, unpinned, names


def _ensure_data(db_path: Path, now: dt.datetime) -> None:
    """An empty database is first filled from the embedded snapshot (a first run offline)."""
    db = open_database(db_path)
    try:
        empty = db.record_count() == 0
    finally:
        db.close()
    if empty:
        sync(db_path, [], now)


def _match(db: advisory_db.AdvisoryDatabase, packages: Sequence[Package]) -> matching.MatchResult:
    advisories, groups = db.candidates(p.name for p in packages)
    return matching.match(packages, advisories, groups)


def scan(
    root: Path,
    explicit_lockfiles: Sequence[Path],
    db_path: Path,
    cfg: Config,
    now: dt.datetime,
) -> ScanResult:
    """Findings of the working tree with the policy applied. An empty database is first filled
    from the embedded snapshot, so a first run works offline."""
    return _scan(root, explicit_lockfiles, db_path, cfg, now)[0]


def _scan(
    root: Path,
    explicit_lockfiles: Sequence[Path],
    db_path: Path,
    cfg: Config,
    now: dt.datetime,
) -> tuple[ScanResult, list[Package]]:
    packages, unpinned, names = read_lockfiles(root, explicit_lockfiles)
    _ensure_data(db_path, now)
    db = open_database(db_path)
    try:
        matched = _match(db, packages)
        info = database_info(db, now)
    finally:
        db.close()
    assessed, unused, diagnostics = policy.apply_policy(
        matched.findings, cfg.advisories, now, parse_timestamp(info.newest_modified)
    )
    result = ScanResult(
        findings=tuple(assessed),
        unpinned=tuple(unpinned) + matched.unmatchable,
        diagnostics=tuple(diagnostics),
        unused_ignores=tuple(unused),
        database=info,
        lockfiles=tuple(names),
        package_count=len(packages),
    )
    return result, packages


# --- diff: base (the merge-base) against head, read from git objects ---------------------------

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
    db: advisory_db.AdvisoryDatabase,
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
        cached = db.cached_lockfile(CACHE_PREFIX + entry.blob)
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
                db.cache_lockfile(CACHE_PREFIX + entry.blob, lockfiles.contents_to_json(contents))
            found.append(contents)
    return found


def _read_side(
    repo: Path,
    sha: str,
    label: str,
    db: advisory_db.AdvisoryDatabase,
    config_path: str,
    trust_dir: str,
) -> TreeSide:
    entries = {e.path: e for e in gitrepo.tree(repo, sha)}
    cfg = _config_at(repo, entries, config_path, label)
    prefix = trust_dir.rstrip("/") + "/"
    trust = {path: e.blob for path, e in entries.items() if path.startswith(prefix)}
    packages = [p for c in _lockfiles_at(repo, entries, label, db) for p in c.packages]
    return TreeSide(sha, cfg, trust, packages)


def diff(
    repo: Path,
    base_ref: str,
    head_ref: str,
    db_path: Path,
    now: dt.datetime,
    config_path: str = "deny.toml",
    trust_dir: str = "trust-store",
    pypi_index: str | None = None,
) -> diffing.DiffResult:
    """Findings new at head against the merge-base of the two refs, fixed ones, and the policy
    the change makes; both sides read from git objects and matched on one database snapshot."""
    head = gitrepo.resolve(repo, head_ref)
    base_tip = gitrepo.resolve(repo, base_ref)
    base = gitrepo.merge_base(repo, base_tip, head, base_ref, head_ref)
    _ensure_data(db_path, now)
    warnings: list[str] = []
    db = open_database(db_path)
    try:
        with db.transaction():
            head_side = _read_side(repo, head, head_ref, db, config_path, trust_dir)
            base_side = _read_side(
                repo, base, f"{base_ref}@{base[:12]}", db, config_path, trust_dir
            )
        head_match = _match(db, head_side.packages)
        base_match = _match(db, base_side.packages)
        info = database_info(db, now)
        newly_untrusted = _trust_change(
            repo, db, base_side, head_side, trust_dir, pypi_index, now, warnings
        )
    finally:
        db.close()
    changes = diffing.policy_changes(
        base_side.config.advisories.ignore,
        head_side.config.advisories.ignore,
        base_side.trust,
        head_side.trust,
    )
    result = diffing.diff(
        base,
        head,
        base_match.findings,
        head_match.findings,
        base_side.config,
        head_side.config,
        changes,
        info,
        now,
    )
    return replace(result, became_untrusted=newly_untrusted, warnings=tuple(warnings))


def _trust_change(
    repo: Path,
    db: advisory_db.AdvisoryDatabase,
    base: TreeSide,
    head: TreeSide,
    trust_dir: str,
    pypi_index: str | None,
    now: dt.datetime,
    warnings: list[str],
) -> tuple[TrustResult, ...]:
    """Head's new artifacts judged by the base's [trust] mode and trust store (read from git
    objects); only they can have become untrusted, so only their provenance is fetched."""
    with tempfile.TemporaryDirectory(prefix="triage-trust-") as scratch:
        store = Path(scratch)
        blobs = gitrepo.read_blobs(repo, sorted(set(base.trust.values())))
        for path, blob in base.trust.items():
            target = store / PurePosixPath(path).relative_to(trust_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[blob])
        locked_before = {(name, sha) for _, name, sha in _locked_artifacts(base.packages, {})}
        changed = [
            p
            for p in head.packages
            if any((name, sha) not in locked_before for _, name, sha in _locked_artifacts([p], {}))
        ]
        claims: dict[str, list[provenance.Claim]] = {}
        if base.config.trust.mode != "audit":
            with db.transaction():
                claims = _fetched_claims(
                    db, _locked_artifacts(changed, {}), pypi_index, now, warnings
                )
        with db.transaction():
            after = _judge_trust(changed, base.config, store, claims, db)
    return diffing.became_untrusted(locked_before, after)


def pr_comment(
    github: github_api.GitHub,
    repository: str,
    number: int,
    result: diffing.DiffResult,
) -> github_api.CommentResult:
    """Create or edit the pull request's one triage comment. Only a finished diff gets here,
    so a failed run never posts."""
    body = report.pr_comment(result)
    return github.upsert_comment(repository, number, report.PR_COMMENT_MARKER, body)


# --- the daily audit -----------------------------------------------------------------------


@dataclass
class AuditReport:
    skipped: str | None = None  # why nothing ran
    run: int | None = None
    scan: ScanResult | None = None
    sync: SyncReport | None = None
    actions: dict[str, int] = field(default_factory=dict)
    trust: list[TrustResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    open_findings: int | None = None  # findings not fixed after the run

    @property
    def fails(self) -> bool:
        untrusted = any(item.fails for item in self.trust)
        return untrusted or (self.scan is not None and self.scan.fails)


TrackerFactory = Callable[[advisory_db.AdvisoryDatabase], tracking.IssueTracker]


def tracker_factory(
    repository: str | None, labels: Sequence[str], environ: Mapping[str, str], now: dt.datetime
) -> TrackerFactory:
    """GitHub when a token and a repository are known, else the local tracker."""
    if repository and environ.get("GITHUB_TOKEN"):
        github = github_api.GitHub.from_environment()
        return lambda db: github_api.GitHubTracker(github, repository, labels)
    stamp = now.isoformat(timespec="seconds")
    return lambda db: advisory_db.LocalTracker(db, stamp)


def _dependencies(packages: Sequence[Package], direct: set[str]) -> dict[str, report.Dependency]:
    """Per package: direct when pyproject.toml or the lockfile says so, transitive when the
    lockfile says so, else not known; with everything that pulls it in."""
    merged: dict[str, report.Dependency] = {}
    for package in packages:
        before = merged.get(package.name, report.Dependency(None))
        says = True if package.name in direct else package.direct
        known = [v for v in (before.direct, says) if v is not None]
        merged[package.name] = report.Dependency(
            any(known) if known else None,
            tuple(sorted(set(before.via) | set(package.via))),
        )
    return merged


def _tracked(item: AssessedFinding, dependencies: dict[str, report.Dependency]) -> tracking.Tracked:
    dependency = dependencies.get(item.finding.package, report.Dependency(None))
    return tracking.Tracked(
        key=str(item.finding.key),
        status=item.status,
        ignore=item.ignore,
        title=report.issue_title(item),
        body=report.issue_body(item, dependency),
        recorded=tracking.Recorded(item.finding.severity.label, item.finding.fixed_versions),
    )


def _apply(
    tracker: tracking.IssueTracker,
    actions: Sequence[tracking.Action],
    labels: Sequence[str],
    counts: dict[str, int],
) -> dict[str, str]:
    """Carry out the actions in order; returns the URL of each newly opened issue by key."""
    opened: dict[str, str] = {}
    if any(isinstance(a, tracking.OpenIssue) for a in actions):
        tracker.ensure_labels(labels)
    for action in actions:
        match action:
            case tracking.OpenIssue(key, title, body):
                opened[key] = tracker.open_issue(key, title, body, labels).url
                counts["opened"] += 1
            case tracking.CommentOn(number, text):
                tracker.comment(number, text)
                counts["commented"] += 1
            case tracking.EditBody(number, body):
                tracker.edit_body(number, body)
                counts["edited"] += 1
            case tracking.CloseIssue(number, comment):
                tracker.close(number, comment)
                counts["closed"] += 1
            case tracking.ReopenIssue(number, comment):
                tracker.reopen(number, comment)
                counts["reopened"] += 1
    return opened


def _working_tree_pyproject(root: Path) -> str:
    """pyproject.toml's text, only to tell direct dependencies from transitive ones: a file
    that cannot be read or decoded tells nothing rather than stopping the command."""
    try:
        return (root / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _audit_scan(
    root: Path, ref: str | None, cfg: Config, db: advisory_db.AdvisoryDatabase, now: dt.datetime
) -> tuple[ScanResult, Config, dict[str, report.Dependency], list[Package]]:
    if ref is None:
        packages, unpinned, names = read_lockfiles(root, [])
        pyproject_text = _working_tree_pyproject(root)
    else:
        sha = gitrepo.resolve(root, ref)
        with db.transaction():
            side = _read_side(root, sha, ref, db, cfg.path, "trust-store")
        cfg, packages, unpinned, names = side.config, side.packages, [], []
        entries = {e.path: e for e in gitrepo.tree(root, sha)}
        entry = entries.get("pyproject.toml")
        pyproject_text = (
            gitrepo.read_blobs(root, [entry.blob])[entry.blob].decode("utf-8", "replace")
            if entry
            else ""
        )
    matched = _match(db, packages)
    info = database_info(db, now)
    assessed, unused, diagnostics = policy.apply_policy(
        matched.findings, cfg.advisories, now, parse_timestamp(info.newest_modified)
    )
    result = ScanResult(
        tuple(assessed),
        tuple(unpinned) + matched.unmatchable,
        tuple(diagnostics),
        tuple(unused),
        info,
        tuple(names),
        len(packages),
    )
    direct = lockfiles.direct_names(pyproject_text)
    return result, cfg, _dependencies(packages, direct), packages


def audit(
    root: Path,
    db_path: Path,
    cfg: Config,
    tracker_factory: TrackerFactory,
    clock: Callable[[], dt.datetime],
    *,
    ref: str | None = None,
    scheduled_for: str | None = None,
    progress: Progress | None = None,
    trust_store: Path | None = None,
    pypi_index: str | None = None,
) -> AuditReport:
    """The daily job: sync, scan the default branch, check trust, reconcile tracking issues,
    record the run. Safe to kill and re-run at any point; a second audit at once does not
    run. Provenance comes from the cache, and from `pypi_index` when one is given."""
    with advisory_db.audit_lock(db_path) as held:
        if not held:
            return AuditReport(skipped="another audit is running on this database")
        now = clock()
        db = open_database(db_path)
        try:
            store = advisory_db.AuditStore(db)
            if scheduled_for is not None and store.succeeded_for(scheduled_for):
                return AuditReport(skipped=f"the audit scheduled for {scheduled_for} already ran")
            run = store.start(now.isoformat(timespec="seconds"), scheduled_for)
        finally:
            db.close()
        result = AuditReport(run=run)
        result.actions = dict.fromkeys(("opened", "commented", "edited", "closed", "reopened"), 0)
        outcome = "failed"
        try:
            result.sync = sync(db_path, cfg.advisories.sources, now, progress)
            db = open_database(db_path)
            try:
                _audit_tracking(
                    root,
                    ref,
                    cfg,
                    db,
                    tracker_factory,
                    now,
                    result,
                    trust_store or root / "trust-store",
                    pypi_index,
                )
            finally:
                db.close()
            outcome = "ok"
        except TriageError as exc:
            outcome = f"failed: {exc.message}"
            raise
        finally:
            db = open_database(db_path)
            try:
                digest = result.scan.database.digest if result.scan else ""
                advisory_db.AuditStore(db).finish(
                    run,
                    clock().isoformat(timespec="seconds"),
                    digest,
                    result.actions,
                    outcome,
                    result.open_findings,
                )
            finally:
                db.close()
        return result


def _audit_tracking(
    root: Path,
    ref: str | None,
    cfg: Config,
    db: advisory_db.AdvisoryDatabase,
    tracker_factory: TrackerFactory,
    now: dt.datetime,
    result: AuditReport,
    trust_store: Path,
    pypi_index: str | None,
) -> None:
    """Scan and check trust, then bring the tracker in line; `result.actions` tallies what was
    done, even if it fails half-way."""
    scan_result, cfg, dependencies, packages = _audit_scan(root, ref, cfg, db, now)
    result.scan = scan_result
    claims = {}
    if cfg.trust.mode != "audit":
        with db.transaction():
            claims = _fetched_claims(
                db, _locked_artifacts(packages, {}), pypi_index, now, result.warnings
            )
    with db.transaction():
        result.trust = _judge_trust(packages, cfg, trust_store, claims, db)
    tracker = tracker_factory(db)
    issues = tracker.tracked_issues()
    wanted: list[tracking.Tracked] = _untrusted(result.trust, cfg.trust.mode)
    present: list[tracking.Tracked] = []
    for item in scan_result.findings:
        goal = _tracked(item, dependencies)
        (wanted if tracking.wants_issue(item, cfg.advisories) else present).append(goal)
    opened = _apply(
        tracker,
        tracking.reconcile(wanted, present, issues, now.date()),
        cfg.github.labels,
        result.actions,
    )
    urls = {key: issue.url for key, issue in issues.items()} | opened
    store = advisory_db.TriageStore(db)
    records, changes = rotation.observe(
        {record.key: record for record in store.records()},
        [
            rotation.Observed(
                key=str(i.finding.key),
                advisory=i.finding.advisory,
                package=i.finding.package,
                versions=i.finding.versions,
                severity=i.finding.severity.label,
                ignored=i.status is Status.IGNORED,
                issue_url=urls.get(str(i.finding.key)),
            )
            for i in scan_result.findings
        ],
        now,
        cfg.sla,
    )
    store.save(records, changes, {str(i.finding.key): i.status.value for i in scan_result.findings})
    result.open_findings = sum(r.state is not TriageState.FIXED for r in store.records())


def _untrusted(results: Sequence[TrustResult], mode: str) -> list[tracking.Tracked]:
    """One tracked item per package version with an artifact that fails the trust policy."""
    failing: dict[tuple[str, str], list[TrustResult]] = {}
    for item in results:
        if item.fails:
            failing.setdefault((item.evidence.package, item.evidence.version), []).append(item)
    return [
        tracking.Tracked(
            key=f"untrusted/{package}=={version}",
            status=Status.ACTIVE,
            ignore=None,
            title=f"Untrusted dependency: {package} {version}",
            body=report.untrusted_issue_body(package, version, mode, items),
            recorded=tracking.Recorded("untrusted", ()),
        )
        for (package, version), items in sorted(failing.items())
    ]


def local_issues(db_path: Path, *, include_closed: bool) -> list[dict[str, object]]:
    db = open_database(db_path)
    try:
        rows = advisory_db.LocalTracker(db, "").all_issues()
    finally:
        db.close()
    return [
        {"number": r["number"], "key": r["key"], "state": r["state"], "title": r["title"]}
        for r in rows
        if include_closed or r["state"] == "open"
    ]


def last_successful_audit(db_path: Path) -> dt.datetime | None:
    db = open_database(db_path)
    try:
        return parse_timestamp(advisory_db.AuditStore(db).last_success())
    finally:
        db.close()


# --- trust ------------------------------------------------------------------------------------


DEFAULT_PYPI = "https://pypi.org"


@dataclass
class TrustReport:
    results: list[TrustResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def fails(self) -> bool:
        return any(r.fails for r in self.results)


def _locked_artifacts(
    packages: Sequence[Package], by_digest: Mapping[str, str]
) -> list[tuple[Package, str, str]]:
    """(package, file name, sha256) for every locked artifact with a digest, once each;
    hash-only pins take their file name from provenance with that digest, when there is."""
    found: list[tuple[Package, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for package in packages:
        artifacts = [(a.filename, a.sha256) for a in package.artifacts if a.sha256]
        for digest in package.hashes:
            if digest.startswith("sha256:"):
                sha = digest.removeprefix("sha256:")
                name = by_digest.get(sha, f"{package.name}-{package.version} (sha256:{sha[:12]})")
                artifacts.append((name, sha))
        for filename, sha256 in artifacts:
            if (filename, sha256) not in seen:
                seen.add((filename, sha256))
                found.append((package, filename, sha256))
    return found


# Attestations are uploaded with the file they describe, so a file PyPI has none for
# practically never gains one; asking again monthly catches the rare backfill.
NO_PROVENANCE_RECHECK = dt.timedelta(days=30)


FETCH_WORKERS = 8


def _fetched_claims(
    db: advisory_db.AdvisoryDatabase,
    artifacts: Sequence[tuple[Package, str, str]],
    index: str | None,
    now: dt.datetime,
    warnings: list[str],
) -> dict[str, list[provenance.Claim]]:
    """Provenance from PyPI's Integrity API, cached in the database by file and digest (a
    file with none is asked again after 30 days); with no index, or when PyPI cannot be
    reached, only what is cached is used. Fetches run 8 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    texts: dict[tuple[str, str], str] = {}
    wanted: list[tuple[Package, str, str]] = []
    for package, filename, sha256 in artifacts:
        cached = db.cached_provenance(filename, sha256)
        if cached is not None:
            text, fetched = cached
            if text:
                texts[(filename, sha256)] = text
                continue
            checked = parse_timestamp(fetched)
            if checked is not None and now - checked <= NO_PROVENANCE_RECHECK:
                continue
        if "(sha256:" not in filename:
            wanted.append((package, filename, sha256))
    if index is None or not wanted:
        return _claims_from(texts, artifacts, index)

    def fetch(item: tuple[Package, str, str]) -> UpstreamError | str | None:
        package, filename, _ = item
        try:
            return provenance.fetch_provenance(index, package.name, package.version, filename)
        except UpstreamError as exc:
            return exc

    # One request first: when PyPI cannot be reached, no more are sent (each could wait for
    # its timeout); otherwise the rest go FETCH_WORKERS at a time.
    answers = [fetch(wanted[0])]
    if not isinstance(answers[0], UpstreamError):
        with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
            answers += list(pool.map(fetch, wanted[1:]))
    failures = [a for a in answers if isinstance(a, UpstreamError)]
    if failures:
        unchecked = len(wanted) - len(answers) + len(failures)
        warnings.append(
            f"{failures[0].message}; {unchecked} file(s) not checked, using cached provenance only"
        )
    stamp = now.isoformat(timespec="seconds")
    for (_, filename, sha256), answer in zip(wanted, answers, strict=False):
        if isinstance(answer, UpstreamError):
            continue
        db.cache_provenance(filename, sha256, answer or "", stamp)
        if answer:
            texts[(filename, sha256)] = answer
    return _claims_from(texts, artifacts, index)


def _claims_from(
    texts: Mapping[tuple[str, str], str],
    artifacts: Sequence[tuple[Package, str, str]],
    index: str | None,
) -> dict[str, list[provenance.Claim]]:
    claims: dict[str, list[provenance.Claim]] = {}
    for package, filename, sha256 in artifacts:
        text = texts.get((filename, sha256))
        if text:
            claims[filename] = provenance.parse_claims(
                text,
                f"{index}/integrity/{package.name}/{package.version}/{filename}",
                provenance_object=True,
            )
    return claims


def _import_fetcher(db: advisory_db.AdvisoryDatabase) -> provenance.FetchImport:
    """Imported audit files by URL: downloaded once, kept by their pinned sha256 (only when
    they match it), so audit mode works offline afterwards."""

    def fetch(url: str, pin: str) -> bytes:
        cached = db.cached_import(pin)
        if cached is not None:
            return cached
        data = provenance.download(url)
        if hashlib.sha256(data).hexdigest() == pin:
            db.cache_import(pin, data)
        return data

    return fetch


def _judge_trust(
    packages: Sequence[Package],
    cfg: Config,
    trust_store: Path,
    claims: Mapping[str, list[provenance.Claim]],
    db: advisory_db.AdvisoryDatabase,
) -> list[TrustResult]:
    publishers = provenance.load_publishers(trust_store / "publishers.toml")
    if cfg.trust.mode == "audit":
        audits = provenance.load_audits(trust_store, _import_fetcher(db))
        return [
            trust.judge_audited(ArtifactEvidence(p.name, p.version, name, sha, (), ()), audits)
            for p, name, sha in _locked_artifacts(packages, {})
        ]
    by_digest = {
        found[1]: found[0]
        for items in claims.values()
        for claim in items
        if (found := provenance.subject(claim)) is not None
    }
    keys = provenance.load_public_keys(trust_store / "keys") if claims else {}
    return [
        trust.judge(
            provenance.verify(p.name, p.version, name, sha, claims.get(name, []), keys),
            cfg.trust.mode,
            publishers,
            cfg.trust.unsigned,
        )
        for p, name, sha in _locked_artifacts(packages, by_digest)
    ]


def trust_check(
    root: Path,
    explicit_lockfiles: Sequence[Path],
    cfg: Config,
    trust_store: Path,
    provenance_dir: Path | None,
    db_path: Path,
    now: dt.datetime,
    index: str | None = DEFAULT_PYPI,
) -> TrustReport:
    """A verdict for every locked artifact with a digest, under `[trust] mode`: provenance
    (from --provenance-dir, else PyPI's Integrity API through the cache) for basic and
    certified, audit records for audit."""
    packages, _, _ = read_lockfiles(root, explicit_lockfiles)
    report = TrustReport([])
    claims: dict[str, list[provenance.Claim]] = {}
    db = open_database(db_path)
    try:
        with db.transaction():
            if provenance_dir is not None:
                claims = provenance.load_directory(provenance_dir)
            elif cfg.trust.mode != "audit":
                claims = _fetched_claims(
                    db, _locked_artifacts(packages, {}), index, now, report.warnings
                )
            report.results = _judge_trust(packages, cfg, trust_store, claims, db)
    finally:
        db.close()
    return report


def trust_keygen(
    name: str, private_dir: Path, trust_store: Path, repository: Path
) -> tuple[Path, Path]:
    """A signing key: private half 0600 outside the repository, public half in keys/."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"{name!r} is not a key name", hint="use letters, digits, . _ -")
    if private_dir.resolve().is_relative_to(repository.resolve()):
        raise InputError(
            f"{private_dir}: inside the repository {repository}",
            hint="private keys live outside it (default ~/.config/triage/keys)",
        )
    return provenance.generate_key(name, private_dir, trust_store / "keys")


def trust_certify(
    requirement: str,
    criteria: str,
    key_name: str,
    private_dir: Path,
    trust_store: Path,
    who: str,
    today: dt.date,
    notes: str = "",
    from_version: str | None = None,
    root: Path = Path("."),
) -> dict[str, Any]:
    """Append a signed audit record to trust-store/audits.toml (layout and comments kept),
    listing the digests the repository's lockfiles pin for that version."""
    name, _, version = requirement.partition("==")
    if not name or not version or parse_version_text(version) is None:
        raise InputError(f"{requirement!r} is not PKG==VERSION", hint="e.g. requests==2.32.3")
    record: dict[str, Any] = {
        "package": name,
        "version": version,
        "criteria": criteria,
        "who": who,
        "date": today.isoformat(),
        "notes": notes,
        "key": provenance.KEY_PREFIX + key_name,
    }
    if from_version:
        record["from"] = from_version
    packages, _, _ = read_lockfiles(root, [])
    digests = sorted(
        {
            sha
            for package, _, sha in _locked_artifacts(packages, {})
            if package.name == canonicalize_name(name) and package.version == version
        }
    )
    if digests:  # the record then covers exactly the artifacts locked now
        record["sha256"] = digests
    if provenance.KEY_PREFIX + key_name not in provenance.load_public_keys(trust_store / "keys"):
        raise InputError(
            f"{trust_store}/keys/{key_name}.pub: no such public key",
            hint=f"create it with `triage trust keygen {key_name}`",
        )
    record["signature"] = provenance.sign(record, private_dir / f"{key_name}.key")
    config.append_table(trust_store / "audits.toml", "audit", record)
    return record


# --- the rotation: queue, show, claim, ignore, unignore, policy check, stats -------------------

DEFAULT_IGNORE_DAYS = 90
LONGEST_IGNORE_DAYS = 365


def parse_key(text: str) -> FindingKey:
    advisory, slash, package = text.partition("/")
    if not slash or not advisory or not package or "/" in package or " " in text:
        raise InputError(
            f"{text!r} is not a finding key",
            hint="write ADVISORY/package, as `triage queue` and `triage scan` print it, "
            "e.g. PYSEC-2021-335/accesscontrol",
        )
    return FindingKey(advisory, canonicalize_name(package))


def connect_github(environ: Mapping[str, str]) -> github_api.GitHub | None:
    """GitHub when a token is set; None means work locally."""
    return github_api.GitHub.from_environment() if environ.get("GITHUB_TOKEN") else None


def queue(
    db_path: Path,
    now: dt.datetime,
    *,
    assignee: str | None = None,
    overdue_only: bool = False,
    severities: Sequence[str] = (),
) -> list[TriageRecord]:
    db = open_database(db_path)
    try:
        records = advisory_db.TriageStore(db).records()
    finally:
        db.close()
    return rotation.queue(
        records, now, assignee=assignee, overdue_only=overdue_only, severities=severities
    )


def _find(
    root: Path, db_path: Path, cfg: Config, key: FindingKey, now: dt.datetime
) -> rotation_report.FindingDetails:
    """Look the key up in the database and in a scan of the working tree (an alias of the
    advisory finds it too); a key neither knows is bad input."""
    result, packages = _scan(root, [], db_path, cfg, now)
    scanned = next(
        (
            item
            for item in result.findings
            if item.finding.package == key.package and key.advisory in item.finding.all_ids()
        ),
        None,
    )
    if scanned is not None:
        key = scanned.finding.key
    db = open_database(db_path)
    try:
        store = advisory_db.TriageStore(db)
        record = store.record(str(key))
        history = store.history(str(key))
        candidates, groups = db.candidates([key.package])
    finally:
        db.close()
    if scanned is None and record is None:
        raise InputError(
            f"{key}: no such finding in the database or in the lockfiles under {root}",
            hint="`triage queue` lists the findings the audit recorded, `triage scan` those "
            "of the working tree; copy a key from there",
        )
    ids = scanned.finding.all_ids() if scanned else frozenset({key.advisory})
    advisories = [
        a
        for a in candidates
        if a.id in ids or (a.id in groups and groups[a.id].preferred == key.advisory)
    ]
    dependency = None
    if scanned is not None:
        direct = lockfiles.direct_names(_working_tree_pyproject(root))
        dependency = _dependencies(packages, direct).get(key.package)
    group_ids = ids | {a.id for a in advisories} | {x for a in advisories for x in a.aliases}
    applying = [
        rule
        for rule in cfg.advisories.ignore
        if rule.id in group_ids and rule.package in (None, key.package)
    ]
    return rotation_report.FindingDetails(
        key, record, history, scanned, dependency, advisories, applying
    )


def show(
    root: Path, db_path: Path, cfg: Config, key: str, now: dt.datetime
) -> rotation_report.FindingDetails:
    return _find(root, db_path, cfg, parse_key(key), now)


@dataclass(frozen=True)
class ClaimResult:
    record: TriageRecord
    github: str  # what happened on GitHub, for the user


def claim(
    db_path: Path,
    key: str,
    assignee: str,
    who: str,
    now: dt.datetime,
    github: github_api.GitHub | None,
) -> ClaimResult:
    """Assign a recorded finding; its GitHub tracking issue too when `assignee` is a login
    GitHub lets be assigned in that repository."""
    finding_key = str(parse_key(key))
    if not assignee.strip():
        raise InputError("--as is empty", hint="name who takes the finding, e.g. --as octocat")
    db = open_database(db_path)
    try:
        store = advisory_db.TriageStore(db)
        record = store.record(finding_key)
        if record is None:
            raise InputError(
                f"{finding_key}: no such finding in the database",
                hint="`triage queue` lists the findings the daily audit recorded",
            )
        if record.state is TriageState.FIXED:
            raise InputError(f"{finding_key} is fixed; there is nothing to claim")
        reference = github_api.issue_reference(record.issue_url or "")
        outcome = "no GitHub tracking issue"
        if github is not None and reference is not None:
            repository, number = reference
            tracker = github_api.GitHubTracker(github, repository, ())
            outcome = (
                f"assigned {repository}#{number} to {assignee}"
                if tracker.assign(number, assignee)
                else f"{assignee} is not a GitHub login assignable in {repository}; "
                "assigned here only"
            )
        claimed, change = rotation.claim(record, assignee, who, now)
        store.save([claimed], [change])
    finally:
        db.close()
    return ClaimResult(claimed, outcome)


def _expiry(expires: str | None, today: dt.date, force: bool) -> dt.date:
    if expires is None:
        return today + dt.timedelta(days=DEFAULT_IGNORE_DAYS)
    try:
        date = dt.date.fromisoformat(expires)
    except ValueError:
        raise InputError(
            f"--expires {expires!r} is not a date", hint="write YYYY-MM-DD, e.g. 2027-01-31"
        ) from None
    if date <= today:
        raise InputError(
            f"--expires {date.isoformat()} is not in the future",
            hint="an ignore must end after today",
        )
    if (date - today).days > LONGEST_IGNORE_DAYS and not force:
        raise InputError(
            f"--expires {date.isoformat()} is more than a year away",
            hint="ignores are meant to be revisited; pass --force to accept a longer one",
        )
    return date


def _tracking_issue_for(
    details: rotation_report.FindingDetails, cfg: Config, github: github_api.GitHub | None
) -> str:
    """The finding's GitHub tracking issue, opened now when it has none (reopened when it was
    closed): the URL the ignore records."""
    if github is None or cfg.github.repository is None:
        raise InputError(
            "--open-issue needs GitHub: set GITHUB_TOKEN and [github] repository in deny.toml",
            hint="or pass --issue URL of an existing tracking issue",
        )
    if details.scanned is None or details.dependency is None:
        raise InputError(
            f"{details.key} is not in the working tree's lockfiles; its issue cannot be written",
            hint="pass --issue URL of the issue that tracks it",
        )
    key = str(details.key)
    tracker = github_api.GitHubTracker(github, cfg.github.repository, cfg.github.labels)
    existing = tracker.tracked_issues().get(key)
    if existing is not None:
        if not existing.is_open:
            tracker.reopen(existing.number, "Reopened: it tracks an ignore in deny.toml.")
        return existing.url
    goal = _tracked(details.scanned, {details.key.package: details.dependency})
    tracker.ensure_labels(cfg.github.labels)
    opened = tracker.open_issue(
        key, goal.title, goal.body + "\n" + goal.recorded.marker(), cfg.github.labels
    )
    return opened.url


def _valid_issue_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+/\S*", url):
        raise InputError(
            f"--issue {url!r} is not a URL",
            hint="give the tracking issue's address, e.g. https://github.com/acme/app/issues/12",
        )
    return url


@dataclass(frozen=True)
class IgnoreResult:
    entry: dict[str, Any]
    index: int  # its place in advisories.ignore
    recorded: list[str]  # finding keys whose history got the change


def ignore(
    root: Path,
    db_path: Path,
    config_path: Path,
    key: str,
    *,
    reason: str,
    issue: str | None,
    expires: str | None,
    package_only: bool,
    force: bool,
    open_issue: bool,
    who: str,
    now: dt.datetime,
    github: github_api.GitHub | None,
) -> IgnoreResult:
    """Add an ignore to deny.toml in place; every argument is checked before anything is
    opened or written, and the file is written only when the result validates."""
    finding_key = parse_key(key)
    if not reason.strip():
        raise InputError("--reason is empty", hint="say why the finding is acceptable")
    if issue is None and not open_issue:
        raise InputError(
            "an ignore needs a tracking issue", hint="pass --issue URL, or --open-issue"
        )
    if issue is not None and open_issue:
        raise InputError("--issue and --open-issue exclude each other")
    if issue is not None:
        _valid_issue_url(issue)
    until = _expiry(expires, now.date(), force)
    cfg = load_config(config_path, required=False)
    details = _find(root, db_path, cfg, finding_key, now)
    scope = details.key.package if package_only else None

    def not_yet_ignored(current: Config) -> None:
        for rule in current.advisories.ignore:
            if (
                rule.id == details.key.advisory
                and rule.package == scope
                and not policy.is_expired(rule, now.date())
            ):
                raise InputError(
                    f"{config_path}: advisories.ignore[{rule.index}] already ignores "
                    f"{rule.id}" + (f" for {rule.package}" if rule.package else ""),
                    hint=f"`triage unignore {rule.id}` first to replace it",
                )

    not_yet_ignored(cfg)  # before an issue is opened for it
    url = issue if issue is not None else _tracking_issue_for(details, cfg, github)
    entry: dict[str, Any] = {"id": details.key.advisory}
    if scope is not None:
        entry["package"] = scope
    entry |= {"reason": reason.strip(), "issue": url, "expires": until}

    def decide(current: Config) -> config.LedgerEdit:
        not_yet_ignored(current)  # again: another edit may have landed meanwhile
        return entry

    written = config.edit_ignores(config_path, decide)
    detail = f"until {until.isoformat()}: {entry['reason']} ({url})"
    recorded = _record_ledger_change(
        db_path, details.key.advisory, scope, who, now, detail, rotation.mark_ignored
    )
    return IgnoreResult(entry, len(written.advisories.ignore) - 1, recorded)


def _record_ledger_change(
    db_path: Path,
    advisory: str,
    package: str | None,
    who: str,
    now: dt.datetime,
    detail: str,
    mark: Callable[[TriageRecord, str, dt.datetime, str], tuple[TriageRecord, Change]],
) -> list[str]:
    """The history of every recorded finding an ignore covers: the advisory in `package`, or
    in every package when the ignore names none."""
    db = open_database(db_path)
    try:
        store = advisory_db.TriageStore(db)
        covered = [
            r
            for r in store.records()
            if r.advisory == advisory
            and package in (None, r.package)
            and r.state is not TriageState.FIXED
        ]
        marked = [mark(record, who, now, detail) for record in covered]
        store.save([r for r, _ in marked], [c for _, c in marked])
    finally:
        db.close()
    return [r.key for r in covered]


def unignore(
    db_path: Path, config_path: Path, ident: str, who: str, now: dt.datetime
) -> tuple[IgnoreRule, list[str]]:
    """Remove one ignore from deny.toml, chosen by its advisory id, or by ID/package when
    several entries share the id."""
    advisory, _, package = ident.partition("/")
    wanted_package = canonicalize_name(package) if package else None
    removed: list[IgnoreRule] = []

    def decide(current: Config) -> config.LedgerEdit:
        rules = current.advisories.ignore
        chosen = [
            r
            for r in rules
            if r.id == advisory and (wanted_package is None or r.package in (None, wanted_package))
        ]
        if len(chosen) > 1 and wanted_package is not None:
            chosen = [r for r in chosen if r.package == wanted_package] or chosen
        if not chosen:
            listed = ", ".join(sorted({r.id for r in rules})) or "none"
            raise InputError(
                f"{config_path}: no ignore entry matches {ident!r} (ignored ids: {listed})",
                hint="name an advisory id as it appears in advisories.ignore",
            )
        if len(chosen) > 1:
            places = ", ".join(f"advisories.ignore[{r.index}]" for r in chosen)
            raise InputError(
                f"{config_path}: {ident!r} matches several entries ({places})",
                hint=f"name one as {advisory}/PACKAGE",
            )
        removed.append(chosen[0])
        return chosen[0].index

    config.edit_ignores(config_path, decide)
    rule = removed[0]
    recorded = _record_ledger_change(
        db_path,
        rule.id,
        rule.package,
        who,
        now,
        f"removed advisories.ignore[{rule.index}] ({rule.id})",
        rotation.mark_unignored,
    )
    return rule, recorded


@dataclass
class PolicyReport:
    diagnostics: list[Diagnostic]
    notes: list[str]  # what could not be checked, and why

    @property
    def fails(self) -> bool:
        return any(d.level is Level.DENY for d in self.diagnostics)


def _closed_issues(
    cfg: Config, today: dt.date, github: github_api.GitHub | None, notes: list[str]
) -> set[str]:
    """The standing ignores' tracking issues that GitHub says are closed."""
    urls = sorted(
        {r.issue for r in cfg.advisories.ignore if r.issue and not policy.is_expired(r, today)}
    )
    if github is None:
        if urls:
            notes.append("tracking issues not checked: GITHUB_TOKEN is not set")
        return set()
    closed: set[str] = set()
    for url in urls:
        reference = github_api.issue_reference(url)
        if reference is None:
            notes.append(f"{url}: not a GitHub issue address; its state is not checked")
            continue
        try:
            state = github_api.issue_state(github, *reference)
        except UpstreamError as exc:
            notes.append(f"tracking issues not checked: {exc.message}")
            return closed
        if state is None:
            notes.append(f"{url}: GitHub has no such issue")
        elif state == "closed":
            closed.add(url)
    return closed


def policy_check(
    root: Path,
    explicit_lockfiles: Sequence[Path],
    db_path: Path,
    cfg: Config,
    now: dt.datetime,
    github: github_api.GitHub | None,
) -> PolicyReport:
    """Lint the ignore ledger (SPEC §5) against the working tree's findings, the database's
    advisory ids and, when GitHub is reachable, the tracking issues' states."""
    result = scan(root, explicit_lockfiles, db_path, cfg, now)
    db = open_database(db_path)
    try:
        known = advisory_db.TriageStore(db).known_ids(r.id for r in cfg.advisories.ignore)
    finally:
        db.close()
    notes: list[str] = []
    closed = _closed_issues(cfg, now.date(), github, notes)
    lints = policy.ledger_lints(cfg.advisories, result.diagnostics, now.date(), known, closed)
    return PolicyReport(lints, notes)


def stats(db_path: Path, now: dt.datetime, window: dt.timedelta) -> rotation.Stats:
    db = open_database(db_path)
    try:
        store = advisory_db.TriageStore(db)
        return rotation.stats(store.records(), store.history(), store.open_over_time(), now, window)
    finally:
        db.close()
