"""Base vs head: findings by key (new / fixed / unchanged) and the policy a pull request changes.

The verdict uses the base's policy, so an ignore that the pull request adds never hides the
finding it covers; such findings are listed as suppressed by the pull request, for review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from msgspec import Struct

from triage.core.policy import apply_policy
from triage.models import (
    AssessedFinding,
    Diagnostic,
    Finding,
    FindingKey,
    IgnoreRule,
    Level,
    LintCode,
    Status,
    Unpinned,
)

if TYPE_CHECKING:
    from triage.models import Config, DatabaseInfo, IndexNote, LicenseChange, TrustResult


class PolicyChanges(Struct, frozen=True):
    ignores_added: tuple[IgnoreRule, ...] = ()
    ignores_removed: tuple[IgnoreRule, ...] = ()
    ignores_loosened: tuple[tuple[IgnoreRule, IgnoreRule], ...] = ()  # (base, head)
    trust_store_changed: tuple[str, ...] = ()  # paths under trust-store/ added, removed, edited
    lockfiles_removed: tuple[str, ...] = ()  # scanned at base, not at head (deleted or moved)
    licenses_changed: tuple[str, ...] = ()  # [licenses] differences, described

    @property
    def needs_review(self) -> bool:
        return bool(
            self.ignores_added
            or self.ignores_loosened
            or self.trust_store_changed
            or self.lockfiles_removed
            or self.licenses_changed
        )


class DiffResult(Struct, frozen=True):
    base: str
    head: str
    new: tuple[AssessedFinding, ...]
    fixed: tuple[AssessedFinding, ...]
    unchanged: tuple[AssessedFinding, ...]
    suppressed_by_head: tuple[FindingKey, ...]
    policy: PolicyChanges
    database: DatabaseInfo
    became_untrusted: tuple[TrustResult, ...] = ()  # judged with the base's trust store
    warnings: tuple[str, ...] = ()
    license_changes: tuple[LicenseChange, ...] = ()  # judged with the base's [licenses]
    # Requirements the pull request adds whose version (or project) is not pinned down, and
    # what the base's `[advisories] unpinned` says of them.
    unpinned_added: tuple[Unpinned, ...] = ()
    unpinned_diagnostics: tuple[Diagnostic, ...] = ()
    # What the index says of the releases the pull request adds: yanked files, project status.
    index_notes: tuple[IndexNote, ...] = ()

    @property
    def fails(self) -> bool:
        return (
            any(item.fails for item in self.new)
            or any(note.level is Level.DENY for note in self.index_notes)
            or any(d.level is Level.DENY for d in self.unpinned_diagnostics)
            or bool(self.became_untrusted)
            or any(change.result.level is Level.DENY for change in self.license_changes)
        )


def _wider(base: IgnoreRule, head: IgnoreRule) -> bool:
    """Head's rule covers more than base's: any package instead of one, or a later expiry."""
    package_wider = base.package is not None and head.package is None
    later = base.expires is not None and (head.expires is None or head.expires > base.expires)
    return package_wider or later


def policy_changes(
    base: Sequence[IgnoreRule],
    head: Sequence[IgnoreRule],
    base_trust: Mapping[str, str],
    *,
    head_trust: Mapping[str, str],
    lockfiles: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> PolicyChanges:
    """Ignores are paired by (id, package), then by id alone; trust-store files by path;
    `lockfiles` are the paths scanned at (base, head): one the head no longer has was deleted
    or moved out of discovery, and is flagged for review."""
    unpaired_base = list(base)
    added: list[IgnoreRule] = []
    loosened: list[tuple[IgnoreRule, IgnoreRule]] = []
    leftovers: list[IgnoreRule] = []
    for rule in head:
        twin = next(
            (b for b in unpaired_base if (b.id, b.package) == (rule.id, rule.package)), None
        )
        if twin is None:
            leftovers.append(rule)
            continue
        unpaired_base.remove(twin)
        if _wider(twin, rule):
            loosened.append((twin, rule))
    for rule in leftovers:
        twin = next((b for b in unpaired_base if b.id == rule.id), None)
        if twin is not None and _wider(twin, rule):
            unpaired_base.remove(twin)
            loosened.append((twin, rule))
        else:
            added.append(rule)
    changed = sorted(
        path
        for path in set(base_trust) | set(head_trust)
        if base_trust.get(path) != head_trust.get(path)
    )
    base_locks, head_locks = lockfiles
    removed = tuple(sorted(set(base_locks) - set(head_locks)))
    return PolicyChanges(
        tuple(added), tuple(unpaired_base), tuple(loosened), tuple(changed), removed
    )


def became_untrusted(
    base_artifacts: set[tuple[str, str]], head: Sequence[TrustResult]
) -> tuple[TrustResult, ...]:
    """Artifacts failing the trust policy at head that the merge-base did not lock: one that
    was locked there, with the same digest, has the same verdict on both sides."""
    return tuple(
        r
        for r in head
        if r.fails and (r.evidence.filename, r.evidence.sha256) not in base_artifacts
    )


class DiffSide(Struct, frozen=True):
    """One side of a pull request as matched: its commit, its findings, its deny.toml, and its
    requirements without one version."""

    sha: str
    findings: Sequence[Finding]
    config: Config
    unpinned: Sequence[Unpinned] = ()


def diff(
    base: DiffSide,
    head: DiffSide,
    *,
    changes: PolicyChanges,
    database: DatabaseInfo,
    now: dt.datetime,
) -> DiffResult:
    """Both sides judged by the base's [advisories] policy; head's own policy is consulted only
    to name the findings the pull request would suppress. The requirements without one
    version that head adds are listed and judged too."""
    rules = base.config.advisories
    before = {_unpinned_key(item) for item in base.unpinned}
    added = tuple(item for item in head.unpinned if _unpinned_key(item) not in before)
    _, _, said = apply_policy((), rules, now, newest_modified=None, unpinned=added)
    judged_head, _, _ = apply_policy(head.findings, rules, now, newest_modified=None)
    judged_base, _, _ = apply_policy(base.findings, rules, now, newest_modified=None)
    by_head_policy, _, _ = apply_policy(
        head.findings, head.config.advisories, now, newest_modified=None
    )
    base_keys = {item.finding.key for item in judged_base}
    head_keys = {item.finding.key for item in judged_head}
    suppressed = tuple(
        own.finding.key
        for own, gate in zip(by_head_policy, judged_head, strict=True)
        if own.status is Status.IGNORED and gate.status is not Status.IGNORED
    )
    return DiffResult(
        base=base.sha,
        head=head.sha,
        new=tuple(i for i in judged_head if i.finding.key not in base_keys),
        fixed=tuple(i for i in judged_base if i.finding.key not in head_keys),
        unchanged=tuple(i for i in judged_head if i.finding.key in base_keys),
        suppressed_by_head=suppressed,
        policy=changes,
        database=database,
        unpinned_added=added,
        unpinned_diagnostics=tuple(d for d in said if d.code is LintCode.UNPINNED),
    )


def _unpinned_key(item: Unpinned) -> tuple[str, str, str | None]:
    """What makes an unpinned requirement the same one on both sides: its project, why, and
    what it admits (not where it sits, so a moved line is not new)."""
    return item.name, item.reason, item.specifier
