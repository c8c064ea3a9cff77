"""`triage licenses check`: every locked package version's license, from its PyPI metadata
(fetched once, 8 at a time, and kept in the database so later checks run offline), judged by
`[licenses]`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from triage import licenses, store
from triage.core import licenses as policy
from triage.core.diagnostics import Diagnostics
from triage.core.matching import parse_version
from triage.errors import ConfigError, UpstreamError
from triage.models import (
    Clarification,
    Config,
    Diagnostic,
    LicenseChange,
    LicenseInfo,
    LicenseResult,
    LicensesConfig,
    Package,
)
from triage.service.fetching import fetch_all, phase
from triage.service.scan import read_lockfiles
from triage.service.workspace import Workspace

Release = tuple[str, str]


class LicenseReport(Struct):
    results: list[LicenseResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def not_judged(self) -> int:
        return sum(1 for r in self.results if r.info is None)

    @property
    def fails(self) -> bool:
        return policy.fails(self.results, self.diagnostics)


def validate(config: Config) -> None:
    """SPDX ids and expressions of [licenses], checked against the SPDX index: every problem,
    with its key path, in one error (exit 2)."""
    rules = config.licenses
    problems = [
        f"licenses.allow: {key!r} is not an SPDX license id"
        for key in licenses.unknown_ids(rules.allow)
    ]
    for exception in rules.exceptions:
        problems += [
            f"licenses.exceptions[{exception.index}].allow: {key!r} is not an SPDX license id"
            for key in licenses.unknown_ids(exception.allow)
        ]
    for clarification in rules.clarify:
        where = f"licenses.clarify[{clarification.index}]"
        if clarification.expression and licenses.normalise(clarification.expression) is None:
            problems.append(
                f"{where}.expression: {clarification.expression!r} is not an SPDX expression"
            )
        try:
            SpecifierSet(clarification.version)
        except InvalidSpecifier:
            problems.append(f"{where}.version: {clarification.version!r} is not a specifier")
    if problems:
        raise ConfigError(config.path, problems)


def _fetch_missing(
    ws: Workspace, caches: store.Caches, missing: list[Release], *, report: LicenseReport
) -> dict[Release, str]:
    """Metadata of releases the cache lacks (see fetching: after a first failure no more
    are sent), kept in the cache; what was not fetched stays unjudged."""
    index, loopback = ws.settings.pypi_url, ws.settings.loopback_http

    timeout, _ = ws.settings.index_timing()
    answers = fetch_all(
        missing,
        lambda release: licenses.fetch_answer(
            index, *release, timeout=timeout, loopback_http=loopback
        ),
        lookups=ws.lookups,
        settings=ws.settings,
        progress=phase(ws.progress, "licenses: package metadata", len(missing)),
    )
    fetched: dict[Release, str] = {}
    now = ws.now()
    for release, answer in zip(missing, answers, strict=True):
        if isinstance(answer, UpstreamError):
            continue
        kept = store.CachedLicense(metadata_json(answer), answer, metadata_deriver())
        caches.cache_license(*release, found=kept, fetched=now)
        fetched[release] = kept.metadata
    if len(fetched) < len(missing):
        why = ws.lookups.ended or "the index did not answer"
        report.warnings.append(f"{why}; {len(missing) - len(fetched)} package(s) not judged")
    return fetched


def _clarified(name: str, version: str, rules: tuple[Clarification, ...]) -> Clarification | None:
    parsed = parse_version(version)
    for clarification in rules:
        if clarification.name != name:
            continue
        if not clarification.version or (
            parsed is not None
            and SpecifierSet(clarification.version).contains(parsed, prereleases=True)
        ):
            return clarification
    return None


def _info(metadata: str | None) -> LicenseInfo | None:
    if metadata is None:
        return None
    try:
        found: Any = json.loads(metadata)
    except (ValueError, RecursionError):
        return None  # a damaged cache entry: not judged, never guessed
    if found is None:
        return LicenseInfo(None, "absent")
    return licenses.from_metadata(found if isinstance(found, dict) else {})


def metadata_deriver() -> str:
    return store.deriver("licenses.py")


def metadata_json(answer: bytes | None) -> str:
    """What is kept of PyPI's answer, as JSON: the license fields ("null": no release)."""
    return json.dumps(licenses.metadata_of(answer))


def _metadata(
    ws: Workspace, releases: list[Release], report: LicenseReport, *, offline: bool
) -> dict[Release, str]:
    """Cached license metadata of `releases` (derived again from PyPI's kept answer when
    another build derived it; a row that fails its digest is not used); what the cache lacks
    is fetched unless `offline`."""
    with ws.database() as db:
        caches = store.Caches(db)
        metadata = {
            release: kept.metadata
            if kept.deriver == metadata_deriver()
            else metadata_json(kept.raw)
            for release, kept in caches.cached_licenses(releases).items()
        }
        missing = [r for r in releases if r not in metadata]
        if missing and not offline:
            metadata.update(_fetch_missing(ws, caches, missing, report=report))
        report.warnings += caches.rejected
    return metadata


class _Judgements(Struct, frozen=True):
    results: dict[Release, LicenseResult]
    exceptions_used: set[int]
    clarified: set[int]


def _normalised(rules: LicensesConfig) -> LicensesConfig:
    """The allow lists as the SPDX index spells them ("mit" is MIT), as expressions are."""

    def spelled(keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(licenses.normalise(key) or key for key in keys)

    return replace(
        rules,
        allow=spelled(rules.allow),
        exceptions=tuple(replace(e, allow=spelled(e.allow)) for e in rules.exceptions),
    )


def _judge_all(
    releases: list[Release], metadata: dict[Release, str], rules: LicensesConfig
) -> _Judgements:
    rules = _normalised(rules)
    found = _Judgements({}, set(), set())
    for name, version in releases:
        info = _info(metadata.get((name, version)))
        clarification = _clarified(name, version, rules.clarify)
        if clarification is not None:
            found.clarified.add(clarification.index)
            info = LicenseInfo(licenses.normalise(clarification.expression), "clarify")
        node = licenses.tree(info.expression) if info and info.expression else None
        judged = policy.judge(name, version, info, node=node, config=rules)
        if judged.exception_used is not None:
            found.exceptions_used.add(judged.exception_used)
        found.results[name, version] = judged.result
    return found


def expressions(ws: Workspace, releases: list[Release]) -> dict[Release, str]:
    """Each release's SPDX expression, for the SBOM: from the cache, and fetched too when
    deny.toml has [licenses] (a release whose license is unknown is left out)."""
    validate(ws.config)  # its clarifications apply here too
    report = LicenseReport()
    metadata = _metadata(ws, releases, report, offline=not ws.config.licenses.enabled)
    found = {}
    for release in releases:
        info = _info(metadata.get(release))
        clarification = _clarified(*release, ws.config.licenses.clarify)
        if clarification is not None:
            info = LicenseInfo(licenses.normalise(clarification.expression), "clarify")
        if info is not None and info.expression:
            found[release] = info.expression
    return found


def judge_packages(
    ws: Workspace, packages: Sequence[Package], *, config: Config, diagnostics: Diagnostics
) -> list[LicenseResult]:
    """The audit's look at licenses: each locked release judged by `config`'s [licenses]
    (nothing when it has none)."""
    if not config.licenses.enabled:
        return []
    validate(config)
    releases = sorted({(p.name, p.version) for p in packages})
    report = LicenseReport()
    judged = _judge_all(releases, _metadata(ws, releases, report, offline=False), config.licenses)
    diagnostics.warn_all(report.warnings)
    return [judged.results[r] for r in releases]


def check(ws: Workspace) -> LicenseReport:
    validate(ws.config)
    offline = ws.settings.offline
    rules = ws.config.licenses
    contents = read_lockfiles(ws.root, ws.lockfiles, ws.config.scan)
    releases = sorted({(p.name, p.version) for c in contents for p in c.packages})
    report = LicenseReport()
    judged = _judge_all(releases, _metadata(ws, releases, report, offline=offline), rules)
    report.results = [judged.results[r] for r in releases]
    report.diagnostics = policy.unused(rules, judged.exceptions_used, judged.clarified)
    if offline and report.not_judged:
        report.warnings.append(
            f"offline: {report.not_judged} package(s) not in the license cache could not be "
            "judged; run once online to fill it"
        )
    return report


def _expression(result: LicenseResult) -> str:
    if result.info is None:
        return "not judged"
    return result.info.expression or "unknown"


def changes(
    ws: Workspace,
    base: tuple[Config, Sequence[Package]],
    head: tuple[Config, Sequence[Package]],
    *,
    diagnostics: Diagnostics,
) -> tuple[tuple[LicenseChange, ...], tuple[str, ...]]:
    """The licenses a pull request brings (a new package, or a version whose expression
    changed), judged by the base's [licenses]; and what it changes in [licenses] itself.
    Nothing is judged when the base has no [licenses]."""
    (base_config, base_packages), (head_config, head_packages) = base, head
    described = policy.policy_changes(base_config.licenses, head_config.licenses)
    if head_config.licenses.enabled and not base_config.licenses.enabled:
        described = ("[licenses] added (it applies once merged)", *described)
    if not base_config.licenses.enabled:
        return (), described
    validate(base_config)
    before = {(p.name, p.version) for p in base_packages}
    after = {(p.name, p.version) for p in head_packages}
    brought = sorted(after - before)
    if not brought:
        return (), described
    names = {name for name, _ in brought}
    earlier = sorted(r for r in before if r[0] in names)
    report = LicenseReport()
    metadata = _metadata(ws, brought + earlier, report, offline=False)
    diagnostics.warn_all(report.warnings)
    judged = _judge_all(brought + earlier, metadata, base_config.licenses)
    found = []
    for release in brought:
        result = judged.results[release]
        previous = tuple(
            sorted({_expression(judged.results[r]) for r in earlier if r[0] == release[0]})
        )
        if previous and result.info is not None and _expression(result) in previous:
            continue  # a version bump under the same license
        found.append(LicenseChange(result, previous))
    return tuple(found), described
