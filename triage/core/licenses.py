"""The license policy (SPEC §12, cargo-deny's `[licenses]`): an expression is allowed when
its licenses are, `OR` when any branch is, `AND` when all are; `X WITH exception` when
`X` is (an exception only adds permissions) or the pair is listed. An exception allows more
for its package only; a clarification replaces what metadata says. Pure: the parsed
expression comes as nested tuples."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from msgspec import Struct

from triage.models import (
    Diagnostic,
    Level,
    LicenseInfo,
    LicenseResult,
    LicensesConfig,
    LicenseVerdict,
    LintCode,
)

Node = tuple[Any, ...]


def allowed(node: Node, allow: Collection[str]) -> bool:
    kind = node[0]
    if kind == "id":
        return bool(node[1] in allow)
    if kind == "with":
        return node[1] in allow or f"{node[1]} WITH {node[2]}" in allow
    branches = [allowed(child, allow) for child in node[1]]
    return any(branches) if kind == "or" else all(branches)


class Judged(Struct, frozen=True):
    result: LicenseResult
    exception_used: int | None = None  # index of the [[licenses.exceptions]] entry it needed


def judge(
    name: str,
    version: str,
    info: LicenseInfo | None,
    *,
    node: Node | None,
    config: LicensesConfig,
) -> Judged:
    """One package version's verdict; `node` is its parsed expression (None when it has none)."""
    if info is None:
        why = "not in the cache, and not fetched (offline or PyPI unreachable)"
        return Judged(
            LicenseResult(name, version, None, LicenseVerdict.NOT_JUDGED, Level.DENY, why)
        )
    if node is None:
        if info.source == "none":
            why = "its metadata names no license"
            verdict, level = LicenseVerdict.UNLICENSED, config.unlicensed
        elif info.source == "absent":
            why = "the index has no such release, so nothing says its license"
            verdict, level = LicenseVerdict.UNKNOWN, config.level(LintCode.LICENSE_UNKNOWN)
        else:
            why = "not an SPDX license (the metadata's text is kept)"
            verdict, level = LicenseVerdict.UNKNOWN, config.level(LintCode.LICENSE_UNKNOWN)
        return Judged(LicenseResult(name, version, info, verdict, level, why))
    if allowed(node, config.allow):
        return Judged(
            LicenseResult(name, version, info, LicenseVerdict.ALLOWED, Level.ALLOW, "allowed")
        )
    for exception in config.exceptions:
        if exception.name == name and allowed(node, (*config.allow, *exception.allow)):
            why = f"allowed for {name} by licenses.exceptions[{exception.index}]"
            result = LicenseResult(name, version, info, LicenseVerdict.ALLOWED, Level.ALLOW, why)
            return Judged(result, exception.index)
    level = config.level(LintCode.LICENSE_NOT_ALLOWED)
    why = "not in [licenses] allow"
    return Judged(LicenseResult(name, version, info, LicenseVerdict.NOT_ALLOWED, level, why))


def unused(
    config: LicensesConfig, exceptions_used: Collection[int], clarified: Collection[int]
) -> list[Diagnostic]:
    """Exceptions no package needed and clarifications no locked version matched."""
    found = []
    level = config.level(LintCode.LICENSE_EXCEPTION_UNUSED)
    for exception in config.exceptions:
        if exception.index not in exceptions_used:
            message = (
                f"licenses.exceptions[{exception.index}] ({exception.name}) allowed nothing "
                "a locked package needed"
            )
            found.append(Diagnostic(LintCode.LICENSE_EXCEPTION_UNUSED, level, message))
    level = config.level(LintCode.LICENSE_CLARIFY_UNUSED)
    for clarification in config.clarify:
        if clarification.index not in clarified:
            message = (
                f"licenses.clarify[{clarification.index}] ({clarification.name} "
                f"{clarification.version or 'any version'}) matched no locked package"
            )
            found.append(Diagnostic(LintCode.LICENSE_CLARIFY_UNUSED, level, message))
    return found


def fails(results: Sequence[LicenseResult], diagnostics: Sequence[Diagnostic]) -> bool:
    return any(r.level is Level.DENY for r in results) or any(
        d.level is Level.DENY for d in diagnostics
    )


def policy_changes(base: LicensesConfig, head: LicensesConfig) -> tuple[str, ...]:
    """What a pull request changes in [licenses], described for review (the base's policy
    still judges it)."""
    found = [f"license allowed: {key}" for key in head.allow if key not in base.allow]
    found += [f"license no longer allowed: {key}" for key in base.allow if key not in head.allow]
    described: dict[str, tuple[set[str], set[str]]] = {
        "exception": (
            {f"{e.name} {' '.join(e.allow)}" for e in base.exceptions},
            {f"{e.name} {' '.join(e.allow)}" for e in head.exceptions},
        ),
        "clarification": (
            {f"{c.name} {c.version or '*'} {c.expression}" for c in base.clarify},
            {f"{c.name} {c.version or '*'} {c.expression}" for c in head.clarify},
        ),
    }
    for kind, (before, after) in described.items():
        found += [f"license {kind} added: {entry}" for entry in sorted(after - before)]
        found += [f"license {kind} removed: {entry}" for entry in sorted(before - after)]
    if base.unlicensed is not head.unlicensed or dict(base.lints) != dict(head.lints):
        found.append("license lint levels changed")
    if base.enabled and not head.enabled:
        found.append("[licenses] removed")
    return tuple(found)
