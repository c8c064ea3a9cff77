"""The ignore ledger: `ignore` and `unignore` edit deny.toml in place and record the change in
each covered finding's history; `policy check` lints the ledger."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct
from msgspec.structs import replace

from triage import config, store
from triage.config import edit
from triage.core import ledger, policy, rotation, rotation_report, tracked
from triage.errors import InputError, UpstreamError
from triage.models import (
    Change,
    Config,
    Diagnostic,
    FindingKey,
    IgnoreRule,
    Justification,
    Level,
    TriageRecord,
)
from triage.service.rotation import find
from triage.service.scan import scan
from triage.service.workspace import Workspace

if TYPE_CHECKING:
    from triage.github import GitHub


class IgnoreRequest(Struct, frozen=True, kw_only=True):
    key: str
    reason: str
    issue: str | None = None  # the tracking issue's URL, unless `open_issue`
    open_issue: bool = False  # open (or reuse) the GitHub tracking issue
    expires: str | None = None  # YYYY-MM-DD; default 90 days
    package_only: bool = False
    force: bool = False  # accept an expiry more than a year away
    who: str | None = None  # default: who runs the command
    justification: Justification | None = None  # VEX: why not affected; else accepted risk
    malware: bool = False  # the finding is malware and this is meant (policy check flags it)


class IgnoreResult(Struct, frozen=True):
    entry: dict[str, Any]
    index: int  # its place in advisories.ignore
    recorded: list[str]  # finding keys whose history got the change


def _check(request: IgnoreRequest) -> None:
    if not request.reason.strip():
        raise InputError("--reason is empty", hint="say why the finding is acceptable")
    if request.issue is None and not request.open_issue:
        raise InputError(
            "an ignore needs a tracking issue", hint="pass --issue URL, or --open-issue"
        )
    if request.issue is not None and request.open_issue:
        raise InputError("--issue and --open-issue exclude each other")
    if request.issue is not None:
        ledger.valid_issue_url(request.issue)


def _tracking_issue_for(
    details: rotation_report.FindingDetails, cfg: Config, github: GitHub | None
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
    from triage.github import GitHubTracker

    key = str(details.key)
    tracker = GitHubTracker(github, cfg.github.repository, cfg.github.labels)
    existing = tracker.tracked_issues().get(key)
    if existing is not None:
        if not existing.is_open:
            tracker.reopen(existing.number, "Reopened: it tracks an ignore in deny.toml.")
        return existing.url
    goal = tracked.tracked_finding(details.scanned, {details.key.package: details.dependency})
    tracker.ensure_labels(cfg.github.labels)
    opened = tracker.open_issue(
        key, goal.title, goal.body + "\n" + goal.recorded.marker(), labels=cfg.github.labels
    )
    return opened.url


def ignore(ws: Workspace, request: IgnoreRequest) -> IgnoreResult:
    """Add an ignore to deny.toml in place; every argument is checked before anything is
    opened or written, and the file is written only when the result validates."""
    finding_key = FindingKey.parse(request.key)
    if finding_key.repository is not None:
        raise InputError(
            f"{request.key}: an organisation's finding is ignored in its own repository's "
            "deny.toml",
            hint="run `triage ignore ADVISORY/package` in that repository's checkout",
        )
    _check(request)
    now = ws.now()
    until = ledger.expiry(request.expires, now.date(), request.force)
    # The ledger may not exist yet (this ignore starts it), even when named with --config.
    cfg = config.load_config(ws.config_path, required=False)
    details = find(replace(ws, given_config=cfg), finding_key)
    if details.malicious and not request.malware:
        raise InputError(
            f"{request.key} is malware: an ignore would let it be installed",
            hint=f"{policy.malware_response(details.key.package)}; to accept it all the same, add "
            "--malware (and `policy check` will still flag the ignore as ignored-malware)",
        )
    if details.malicious and request.justification is not None:
        raise InputError(
            f"{request.key} is malware: no justification makes it not_affected",
            hint="leave out --justification: an ignore of malware is accepted risk",
        )
    advisory = details.key.advisory
    scope = details.key.package if request.package_only else None

    def not_yet_ignored(current: Config) -> None:
        rule = ledger.standing_ignore(current.advisories.ignore, advisory, scope, today=now.date())
        if rule is not None:
            raise InputError(
                f"{ws.config_path}: advisories.ignore[{rule.index}] already ignores "
                f"{rule.id}" + (f" for {rule.package}" if rule.package else ""),
                hint=f"`triage unignore {rule.id}` first to replace it",
            )

    not_yet_ignored(cfg)  # before an issue is opened for it
    url = request.issue
    if url is None:
        url = _tracking_issue_for(details, cfg, ws.github())
    entry: dict[str, Any] = {"id": advisory}
    if scope is not None:
        entry["package"] = scope
    entry |= {"reason": request.reason.strip(), "issue": url, "expires": until}
    if request.justification is not None:
        entry["justification"] = request.justification.value

    def decide(current: Config) -> edit.LedgerEdit:
        not_yet_ignored(current)  # again: another edit may have landed meanwhile
        return entry

    written = edit.edit_ignores(ws.config_path, decide)
    detail = f"until {until.isoformat()}: {entry['reason']} ({url})"
    who = request.who or ws.settings.user
    recorded = _record_ledger_change(
        ws, advisory, scope, who=who, detail=detail, mark=rotation.mark_ignored
    )
    return IgnoreResult(entry, len(written.advisories.ignore) - 1, recorded)


class Mark(Protocol):
    """rotation.mark_ignored or mark_unignored."""

    def __call__(
        self, record: TriageRecord, who: str, now: dt.datetime, *, detail: str
    ) -> tuple[TriageRecord, Change]: ...


def _record_ledger_change(
    ws: Workspace, advisory: str, package: str | None, *, who: str, detail: str, mark: Mark
) -> list[str]:
    """The history of every recorded finding the ledger change covers."""
    now = ws.now()
    with ws.database() as db:
        states = store.TriageStore(db)
        covered = ledger.covered_records(states.records(), advisory, package)
        marked = [mark(record, who, now, detail=detail) for record in covered]
        states.save([r for r, _ in marked], [c for _, c in marked])
    return [str(r.key) for r in covered]


def unignore(ws: Workspace, ident: str, who: str | None = None) -> tuple[IgnoreRule, list[str]]:
    """Remove one ignore from deny.toml, chosen by its advisory id, or by ID/package when
    several entries share the id."""
    removed: list[IgnoreRule] = []

    def decide(current: Config) -> edit.LedgerEdit:
        rule = ledger.entry_to_remove(current.advisories.ignore, ident, str(ws.config_path))
        removed.append(rule)
        return rule.index

    edit.edit_ignores(ws.config_path, decide)
    rule = removed[0]
    recorded = _record_ledger_change(
        ws,
        rule.id,
        rule.package,
        who=who or ws.settings.user,
        detail=f"removed advisories.ignore[{rule.index}] ({rule.id})",
        mark=rotation.mark_unignored,
    )
    return rule, recorded


class PolicyReport(Struct):
    diagnostics: list[Diagnostic]
    notes: list[str]  # what could not be checked, and why

    @property
    def fails(self) -> bool:
        return any(d.level is Level.DENY for d in self.diagnostics)


def _closed_issues(
    cfg: Config, today: dt.date, github: GitHub | None, *, notes: list[str]
) -> set[str]:
    """The standing ignores' tracking issues that GitHub says are closed."""
    urls = sorted(
        {r.issue for r in cfg.advisories.ignore if r.issue and not policy.is_expired(r, today)}
    )
    if github is None:
        if urls:
            notes.append("tracking issues not checked: GITHUB_TOKEN is not set")
        return set()
    from triage.github import issue_reference, issue_state

    closed: set[str] = set()
    for url in urls:
        reference = issue_reference(url)
        if reference is None:
            notes.append(f"{url}: not a GitHub issue address; its state is not checked")
            continue
        try:
            state = issue_state(github, *reference)
        except UpstreamError as exc:
            notes.append(f"tracking issues not checked: {exc.message}")
            return closed
        if state is None:
            notes.append(f"{url}: GitHub has no such issue")
        elif state == "closed":
            closed.add(url)
    return closed


def policy_check(ws: Workspace) -> PolicyReport:
    """Lint the ignore ledger (SPEC §5) against the working tree's findings, the database's
    advisory ids and, when GitHub is reachable, the tracking issues' states."""
    cfg = ws.config
    now = ws.now()
    result = scan(ws)
    with ws.database() as db:
        known = store.AdvisoryStore(db).known_ids(r.id for r in cfg.advisories.ignore)
    notes: list[str] = []
    closed = _closed_issues(cfg, now.date(), ws.github(), notes=notes)
    lints = policy.ledger_lints(
        cfg.advisories, result.diagnostics, now.date(), known_ids=known, closed_issues=closed
    )
    return PolicyReport(lints, notes)
