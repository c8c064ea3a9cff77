"""One repository of an organisation audit, read and judged where it runs: in a thread of
the coordinator or on a Celery worker. Data in, data out (JSON-able both ways): the task
carries what the coordinator remembers (the tree's ETag and entries, blobs and readings it
holds); the outcome carries what changed and what the repository's issues should say. It
never writes to GitHub and never to the coordinator's state, so running it twice (a worker
lost mid-task) changes nothing but the requests spent."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from msgspec import Struct, field, to_builtins

from triage import config, gitrepo, lockfiles, store
from triage.core import rotation, tracking
from triage.core.diagnostics import Diagnostics
from triage.errors import InputError, TriageError
from triage.github.org import OrgReader, blob_id
from triage.models import FindingKey, IgnoreRule, Status, TrustResult
from triage.service import audit, licenses, scan, trees, trust
from triage.service.fetching import Lookups
from triage.service.workspace import Workspace
from triage.settings import Settings

POLICY = "deny.toml"
TRUST_STORE = "trust-store"
KEPT_BLOB_BYTES = 256 * 1024  # smaller blobs read (policy, trust store, includes) are kept


class RepoTask(Struct, frozen=True):
    repository: str
    branch: str
    digest: str  # the advisory database the coordinator judges with
    now: str
    etag: str | None = None
    entries: list[list[str]] | None = None  # [path, mode, blob] of the remembered tree
    blobs: dict[str, str] = field(default_factory=dict)  # blob id -> base64, remembered
    readings: dict[str, str] = field(default_factory=dict)  # reading key -> reading JSON
    default_policy: str | None = None  # [org] default-policy's text


class RepoOutcome(Struct):
    repository: str
    branch: str = ""
    error: str | None = None
    exit_code: int = 0
    etag: str | None = None
    entries: list[list[str]] | None = None  # a new tree; None: unchanged
    read: dict[str, str] = field(default_factory=dict)  # path -> blob id read
    blobs: dict[str, str] = field(default_factory=dict)  # blob id -> base64, newly fetched
    readings: dict[str, str] = field(default_factory=dict)  # new readings
    wanted: list[tracking.Tracked] = field(default_factory=list)  # issues it should have
    present: list[tracking.Tracked] = field(default_factory=list)  # findings below the bar
    observed: list[rotation.Observed] = field(default_factory=list)  # keyed in the repository
    statuses: dict[FindingKey, str] = field(default_factory=dict)
    fails: bool = False
    packages: int = 0
    warnings: list[str] = field(default_factory=list)
    requests: int = 0
    refused: int = 0  # of the requests, refused for a rate limit
    labels: list[str] = field(default_factory=list)  # the repository's own [github] labels


# The one JSON codec of what crosses to a Celery worker and back.


def task_json(task: RepoTask) -> dict[str, Any]:
    data: dict[str, Any] = to_builtins(task)
    return data


def task_from(payload: Mapping[str, Any]) -> RepoTask:
    try:
        return RepoTask(**payload)
    except TypeError as exc:
        raise InputError(f"not an organisation audit task: {exc}") from None


def outcome_json(outcome: RepoOutcome) -> dict[str, Any]:
    data = {name: getattr(outcome, name) for name in outcome.__struct_fields__}
    data["wanted"] = [_tracked_json(t) for t in outcome.wanted]
    data["present"] = [_tracked_json(t) for t in outcome.present]
    data["observed"] = [
        {**to_builtins(o), "key": str(o.key), "versions": list(o.versions)}
        for o in outcome.observed
    ]
    data["statuses"] = {str(key): status for key, status in outcome.statuses.items()}
    return data


def outcome_from(payload: Mapping[str, Any]) -> RepoOutcome:
    try:
        data = dict(payload)
        data["wanted"] = [tracked_from(t) for t in data.get("wanted", [])]
        data["present"] = [tracked_from(t) for t in data.get("present", [])]
        data["observed"] = [
            rotation.Observed(
                **{**o, "key": FindingKey.parse(o["key"]), "versions": tuple(o["versions"])}
            )
            for o in data.get("observed", [])
        ]
        data["statuses"] = {
            FindingKey.parse(key): status for key, status in data.get("statuses", {}).items()
        }
        return RepoOutcome(**data)
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(f"not an organisation audit outcome: {exc}") from None


class JudgedTrust:
    """Trust verdicts of one run (one `now`) by what decides them: the locked packages, the
    [trust] table and the trust store's files. Repositories locking the same files are
    judged once (threads asking for one being judged wait for it), with what the provenance
    cache held when the first of them was; a new run starts afresh. The run's index lookups
    are one too: the first failure ends them for every repository of the run."""

    def __init__(self) -> None:
        self.now = ""
        self.verdicts: dict[Hashable, _Verdicts] = {}
        self.lookups = Lookups()
        self.lock = threading.Lock()

    def _for_run(self, now: str) -> None:
        if now != self.now:
            self.now, self.verdicts, self.lookups = now, {}, Lookups()

    def lookups_of(self, now: str) -> Lookups:
        with self.lock:
            self._for_run(now)
            return self.lookups

    def judge(
        self, now: str, key: Hashable, judge: Callable[[Diagnostics], list[TrustResult]]
    ) -> tuple[list[TrustResult], tuple[str, ...]]:
        with self.lock:
            self._for_run(now)
            entry = self.verdicts.setdefault(key, _Verdicts())
        with entry.lock:
            if entry.results is None:
                said = Diagnostics()
                entry.results = judge(said)
                entry.warnings = said.warnings
            return entry.results, entry.warnings


class _Verdicts(Struct):
    results: list[TrustResult] | None = None
    warnings: tuple[str, ...] = ()
    lock: threading.Lock = field(default_factory=threading.Lock)


class Context(Struct):
    """What a thread or worker holds across tasks."""

    reader: OrgReader
    advisories: store.Database  # read-only, pinned by `digest`
    digest: str
    cache: store.Database  # provenance and license metadata, opened once per thread
    settings: Settings
    # Content-addressed, so shared by every task of the process: a lockfile or policy that
    # many repositories hold is fetched and parsed once.
    readings: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    judged: JudgedTrust = field(default_factory=JudgedTrust)


class _Readings:
    """The lockfile readings the task brought or the process holds, and the new ones made
    here (for the coordinator to keep)."""

    def __init__(self, known: Mapping[str, str], shared: dict[str, str]) -> None:
        self.known = dict(known)
        self.shared = shared
        self.new: dict[str, str] = {}

    def cached_lockfile(self, key: str) -> str | None:
        found = self.known.get(key) or self.shared.get(key)
        if found is not None and key not in self.known:
            self.known[key] = self.new[key] = found
        return found

    def cache_lockfile(self, key: str, contents: str, source: bytes | None = None) -> None:
        self.known[key] = self.new[key] = self.shared[key] = contents


class _Blobs:
    """Blobs from what the task brought (checked against their ids), else from GitHub."""

    def __init__(
        self,
        reader: OrgReader,
        repository: str,
        known: Mapping[str, str],
        *,
        shared: dict[str, bytes],
    ) -> None:
        self.reader, self.repository, self.shared = reader, repository, shared
        self.known: dict[str, bytes] = {}
        for blob, text in known.items():
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                continue
            if blob_id(data) == blob:
                self.known[blob] = data
        self.fetched: dict[str, bytes] = {}

    def __call__(self, ids: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for blob in ids:
            if blob not in self.known:
                data = self.shared.get(blob)
                if data is None:
                    data = self.reader.blob(self.repository, blob)
                    if len(data) <= KEPT_BLOB_BYTES:
                        self.shared[blob] = data
                self.known[blob] = self.fetched[blob] = data
            found[blob] = self.known[blob]
        return found


def _tracked_json(item: tracking.Tracked) -> dict[str, Any]:
    data: dict[str, Any] = to_builtins(item)  # the status as its value, dates in ISO form
    return data


def tracked_from(data: Mapping[str, Any]) -> tracking.Tracked:
    ignore = data.get("ignore")
    rule = None
    if isinstance(ignore, dict):
        expires = ignore.get("expires")
        rule = IgnoreRule(
            **{**ignore, "expires": dt.date.fromisoformat(expires) if expires else None}
        )
    recorded = data["recorded"]
    return tracking.Tracked(
        key=data["key"],
        status=Status(data["status"]),
        ignore=rule,
        title=data["title"],
        body=data["body"],
        recorded=tracking.Recorded(
            recorded["severity"], tuple(recorded["fixed"]), recorded["expiry_warned"]
        ),
        labels=tuple(str(label) for label in data.get("labels", ())),
    )


def goals_digest(outcome: RepoOutcome) -> str:
    goals = [[_tracked_json(t) for t in items] for items in (outcome.wanted, outcome.present)]
    text = json.dumps(goals, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run(task: RepoTask, ctx: Context) -> RepoOutcome:
    """Read and judge one repository; failures become the outcome's error, never a raise."""
    outcome = RepoOutcome(task.repository, task.branch)
    counts = ctx.reader.counts
    before, refused_before = counts.requests, counts.refused
    try:
        _run(task, ctx, outcome)
    except TriageError as exc:
        outcome.error = exc.message
        outcome.exit_code = exc.exit_code
    finally:
        outcome.requests = counts.requests - before
        outcome.refused = counts.refused - refused_before
    return outcome


def run_payload(payload: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """`run` over JSON-able data, as a Celery task receives and returns it."""
    return outcome_json(run(task_from(payload), ctx))


def _run(task: RepoTask, ctx: Context, outcome: RepoOutcome) -> None:
    if task.digest != ctx.digest:
        raise InputError(
            f"this worker's advisory database is {ctx.digest[:19]}, the coordinator's "
            f"{task.digest[:19]}: judged with different data, the audit would not agree",
            hint="sync the worker's copy (`triage db sync`) from the same sources, then restart it",
        )
    etag = task.etag if task.entries is not None else None
    tree = ctx.reader.tree(task.repository, task.branch, etag)
    entries = tree.entries
    if entries is None:
        entries = [(e[0], e[1], e[2]) for e in task.entries or []]
    else:
        outcome.entries = [list(e) for e in entries]
    outcome.etag = tree.etag
    read = _Blobs(ctx.reader, task.repository, task.blobs, shared=ctx.blobs)
    readings = _Readings(task.readings, ctx.readings)
    label = f"{task.repository}@{task.branch}"
    default = (
        config.parse_config(task.default_policy, "[org] default-policy")
        if task.default_policy is not None
        else None
    )
    listed = [gitrepo.TreeEntry(path, mode, blob) for path, mode, blob in entries]
    side = trees.read_entries(
        listed,
        read,
        readings,
        where=trees.Where(tree.sha or "", label, (POLICY, TRUST_STORE), default),
    )
    pyproject = next((e for e in listed if e.path == "pyproject.toml"), None)
    pyproject_text = (
        read([pyproject.blob])[pyproject.blob].decode("utf-8", "replace") if pyproject else ""
    )
    packages, unpinned, lockfiles_read = scan.summary(side.contents)
    project = scan.Project(side.config, packages, unpinned, lockfiles_read, pyproject_text)
    now = dt.datetime.fromisoformat(task.now)
    report = audit.AuditReport(scan=scan.assess(ctx.advisories, project, now))
    ws = Workspace(
        settings=ctx.settings,
        clock=lambda: now,
        db_path=ctx.cache.path,
        lookups=ctx.judged.lookups_of(task.now),
    )

    def judge(diagnostics: Diagnostics) -> list[TrustResult]:
        blobs = read(sorted(set(side.trust.values())))
        store_at = trust.TrustStore.tree(blobs, side.trust, TRUST_STORE, label=task.repository)
        # A repository's own trust store never makes the auditor fetch: its imports by URL
        # are used only when the organisation's runs already hold them by their pin.
        return trust.judge_packages(
            ws,
            ctx.cache,
            packages,
            config=side.config,
            store_at=store_at,
            diagnostics=diagnostics,
            fetch_imports=False,
        )

    trust_store = tuple(sorted(side.trust.items()))
    report.trust, warned = ctx.judged.judge(
        task.now, (tuple(packages), side.config.trust, trust_store), judge
    )
    said = Diagnostics()
    said.warn_all(warned)
    report.licenses = licenses.judge_packages(ws, packages, config=side.config, diagnostics=said)
    report.warnings += said.warnings
    wanted, present = audit.goals(report, project)
    assert report.scan is not None
    outcome.wanted, outcome.present = wanted, present
    outcome.observed = audit.observations(report.scan, {})
    outcome.statuses = audit.statuses(report.scan)
    outcome.fails = report.fails
    outcome.labels = list(side.config.github.labels)
    outcome.packages = len(packages)
    outcome.warnings = report.warnings + [
        f"{path}: a git submodule; lockfiles inside it are not read" for path in side.submodules
    ]
    outcome.read = {**side.blobs, **side.trust}
    if pyproject is not None:
        outcome.read["pyproject.toml"] = pyproject.blob
    outcome.readings = readings.new
    # Bytes are kept unless a reading stands for them; an include is read as bytes by the
    # file including it, even when its own reading is cached.
    included = {
        side.blobs[path] for c in side.contents for path in c.includes if path in side.blobs
    }
    outcome.blobs = {
        blob: base64.b64encode(data).decode()
        for blob, data in read.fetched.items()
        if len(data) <= KEPT_BLOB_BYTES
        and (blob in included or not _has_reading(blob, readings, listed))
    }


def _has_reading(blob: str, readings: _Readings, listed: Sequence[gitrepo.TreeEntry]) -> bool:
    """A lockfile kept as its reading need not be kept as bytes too."""
    for entry in listed:
        kind = lockfiles.lockfile_format(PurePosixPath(entry.path))
        if entry.blob == blob and kind and lockfiles.reading_key(kind.id, blob) in readings.known:
            return True
    return False
