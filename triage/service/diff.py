"""Diff and the pull-request gate: findings new at head against the merge-base, fixed ones,
and the policy the change makes; both sides read from git objects, matched on one database
snapshot, and judged by the base side's policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from triage import gitrepo, store
from triage.core import diffing, report
from triage.core.artifacts import locked_artifacts
from triage.core.diagnostics import Diagnostics
from triage.errors import InputError
from triage.models import is_repository
from triage.service import index_notes, sync
from triage.service.scan import match, pin_lines
from triage.service.trees import TreeSide, read_side, repo_relative, trust_dir_in_repo
from triage.service.workspace import Workspace

if TYPE_CHECKING:
    from triage.models import LicenseChange, TrustResult


def diff(ws: Workspace, base_ref: str, head_ref: str) -> diffing.DiffResult:
    """Findings new at head against the merge-base of the two refs, fixed ones, and the policy
    the change makes."""
    return diff_sides(ws, base_ref, head_ref)[0]


def sarif_log(ws: Workspace, result: diffing.DiffResult, head_side: TreeSide) -> str:
    """The SARIF log of the head's findings (each marked new or not) located in the head's
    lockfiles, for code scanning."""
    from triage import __version__
    from triage.core import sarif

    entries = {e.path: e for e in gitrepo.tree(ws.root, head_side.sha)}
    wanted = {p.lockfile for p in head_side.packages if p.lockfile in entries}
    blobs = gitrepo.read_blobs(ws.root, sorted({entries[path].blob for path in wanted}))

    def text_of(shown: str) -> str | None:
        entry = entries.get(shown)
        data = blobs.get(entry.blob) if entry is not None else None
        return data.decode("utf-8", "replace") if data is not None else None

    lines = pin_lines(head_side.packages, text_of)
    findings = [(item, True) for item in result.new] + [(item, False) for item in result.unchanged]
    return sarif.document(findings, lines, __version__, notes=result.index_notes)


def diff_sides(
    ws: Workspace, base_ref: str, head_ref: str
) -> tuple[diffing.DiffResult, TreeSide, TreeSide]:
    """The diff, with both sides as read (for the SARIF log and the witness)."""
    with gitrepo.batch(ws.root):
        return _diff_sides(ws, base_ref, head_ref)


def _diff_sides(
    ws: Workspace, base_ref: str, head_ref: str
) -> tuple[diffing.DiffResult, TreeSide, TreeSide]:
    repo = ws.root
    config_path = repo_relative(ws.config_path, repo)
    trust_dir = trust_dir_in_repo(ws)
    head = gitrepo.resolve(repo, head_ref)
    base_tip = gitrepo.resolve(repo, base_ref)
    base = gitrepo.merge_base(repo, base_tip, head, base_ref=base_ref, head_ref=head_ref)
    sync.ensure_data(ws)
    now = ws.now()
    said = Diagnostics()
    with ws.database() as db:
        # The base branch decides the policy, what is scanned included, never the pull request.
        paths = (config_path, trust_dir)
        base_label = f"{base_ref}@{base[:12]}"
        cached = not ws.reference
        base_side = read_side(
            repo, base, base_label, db=db, paths=paths, required=False, cached=cached
        )
        head_side = read_side(
            repo, head, head_ref, db=db, paths=paths, scan=base_side.config.scan, cached=cached
        )
        said.warn_all(
            f"{head_ref}:{path}: a git submodule; lockfiles inside it are not read"
            for path in head_side.submodules
        )
        reference = ws.reference
        head_match, head_unpinned = match(
            db, head_side.packages, head_side.unpinned, reference=reference
        )
        base_match, base_unpinned = match(
            db, base_side.packages, base_side.unpinned, reference=reference
        )
        said.warn_all(
            dict.fromkeys(
                head_match.warnings + base_match.warnings + base_side.notes + head_side.notes
            )
        )
        info = sync.database_info(db, now)
        newly_untrusted = _trust_change(
            ws, db, (base_side, head_side), trust_dir=trust_dir, diagnostics=said
        )
        before = {(p.name, p.version) for p in base_side.packages}
        added = [p for p in head_side.packages if (p.name, p.version) not in before]
        notes = index_notes.notes_for(
            ws, db, added, config=base_side.config.advisories, diagnostics=said
        )
    changes = diffing.policy_changes(
        base_side.config.advisories.ignore,
        head_side.config.advisories.ignore,
        base_side.trust,
        head_trust=head_side.trust,
        lockfiles=([c.path for c in base_side.contents], [c.path for c in head_side.contents]),
    )
    result = diffing.diff(
        diffing.DiffSide(base, base_match.findings, base_side.config, base_unpinned),
        diffing.DiffSide(head, head_match.findings, head_side.config, head_unpinned),
        changes=changes,
        database=info,
        now=now,
    )
    license_changes: tuple[LicenseChange, ...] = ()
    licenses_changed: tuple[str, ...] = ()
    if base_side.config.licenses.enabled or head_side.config.licenses.enabled:
        from triage.service import licenses  # SPDX and PyPI metadata: only with [licenses]

        license_changes, licenses_changed = licenses.changes(
            ws,
            (base_side.config, base_side.packages),
            (head_side.config, head_side.packages),
            diagnostics=said,
        )
    result = replace(
        result,
        became_untrusted=newly_untrusted,
        index_notes=notes,
        warnings=said.warnings,
        license_changes=license_changes,
        policy=replace(result.policy, licenses_changed=licenses_changed),
    )
    return result, base_side, head_side


def _trust_change(
    ws: Workspace,
    db: store.Database,
    sides: tuple[TreeSide, TreeSide],
    *,
    trust_dir: str,
    diagnostics: Diagnostics,
) -> tuple[TrustResult, ...]:
    """Head's new artifacts judged by the base's [trust] mode and trust store (read from git
    objects, never written anywhere); only they can have become untrusted, so only their
    provenance is fetched."""
    base, head = sides
    locked_before = {(name, sha) for _, name, sha in locked_artifacts(base.packages, {})}
    changed = [
        p
        for p in head.packages
        if any((name, sha) not in locked_before for _, name, sha in locked_artifacts([p], {}))
    ]
    if not changed:  # no new artifact: nothing to judge (and Sigstore's verifier not loaded)
        return ()
    from triage.service import trust

    blobs = gitrepo.read_blobs(ws.root, sorted(set(base.trust.values())))
    base_store = trust.TrustStore.tree(blobs, base.trust, trust_dir, label=base.sha[:12])
    after = trust.judge_packages(
        ws, db, changed, config=base.config, store_at=base_store, diagnostics=diagnostics
    )
    return diffing.became_untrusted(locked_before, after)


def pr(
    ws: Workspace, repository: str, number: int, *, base_ref: str, head_ref: str
) -> tuple[diffing.DiffResult, str]:
    """`diff`, then create or edit the pull request's one triage comment; returns the diff and
    what was done. Only a finished diff gets that far, so a failed run never posts."""
    if not is_repository(repository):
        raise InputError(f"--repo {repository!r} is not OWNER/NAME", hint="e.g. --repo acme/api")
    github = ws.github(required=True)
    assert github is not None
    result = diff(ws, base_ref, head_ref)
    body = report.pr_comment(result)
    posted = github.upsert_comment(repository, number, report.PR_COMMENT_MARKER, body=body)
    return result, f"pull request comment {posted.outcome}: {posted.url}"
