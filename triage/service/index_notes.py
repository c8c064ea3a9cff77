"""What the package index says of locked releases beyond advisories, from the same project
pages provenance reads (service/pages): files it has yanked (PEP 592) and the project's status
(PEP 792: archived, quarantined, deprecated), each at the level `[advisories]` gives it. When
the pages cannot be read (offline, the index failing), one line says what was not checked."""

from __future__ import annotations

from collections.abc import Sequence

from triage import store
from triage.core import policy
from triage.core.diagnostics import Diagnostics
from triage.core.matching import normalize_name, parse_version
from triage.errors import UpstreamError
from triage.models import AdvisoriesConfig, IndexNote, Level, Package
from triage.provenance import index
from triage.service import pages
from triage.service.workspace import Workspace


def notes_for(
    ws: Workspace,
    db: store.Database,
    packages: Sequence[Package],
    *,
    config: AdvisoriesConfig,
    diagnostics: Diagnostics,
) -> tuple[IndexNote, ...]:
    """Yanked files and adverse project status of `packages`, by the policy `config`."""
    by_project: dict[str, list[Package]] = {}
    for package in packages:
        by_project.setdefault(normalize_name(package.name), []).append(package)
    if not by_project:
        return ()
    caches = store.Caches(db)
    found = pages.project_pages(ws, caches, sorted(by_project), purpose="yanked and status")
    diagnostics.warn_all(caches.rejected)  # a kept page that failed its digest, asked afresh
    notes: dict[tuple[str, str, str, str], IndexNote] = {}
    unchecked: list[str] = []
    for project, locked in sorted(by_project.items()):
        page = found[project]
        if isinstance(page, UpstreamError):
            unchecked.append(page.message)
            continue
        for note in _status(page, locked, config) + _yanked(page, locked, config):
            notes.setdefault((note.package, note.version, note.kind, note.detail), note)
    if unchecked:
        why = ws.lookups.ended or unchecked[0]
        diagnostics.warn(
            f"{why}; yanked files and project status of {len(unchecked)} project(s) not checked"
        )
    return tuple(n for n in notes.values() if n.level is not Level.ALLOW)


def _status(
    page: index.Page, locked: Sequence[Package], config: AdvisoriesConfig
) -> list[IndexNote]:
    if page.status is None:
        return []
    level = policy.index_level(page.status, config)
    return [
        IndexNote(p.name, p.version, page.status, page.status, page.status_reason, level)
        for p in locked
    ]


def _yanked(
    page: index.Page, locked: Sequence[Package], config: AdvisoriesConfig
) -> list[IndexNote]:
    """Locked files the page marks yanked, found by digest; for a pin without one, its
    version when every file of it is yanked (as pip decides)."""
    by_digest = {f.sha256: (name, f) for name, f in page.files.items() if f.sha256}
    notes = []
    for package in locked:
        digests = {a.sha256 for a in package.artifacts if a.sha256}
        digests |= {h.removeprefix("sha256:") for h in package.hashes if h.startswith("sha256:")}
        if digests:
            files = [by_digest[d] for d in sorted(digests) if d in by_digest]
        else:
            files = _files_of(page, package.version)
            if any(f.yanked is None for _, f in files):
                files = []
        notes += [
            IndexNote(
                package.name,
                package.version,
                "yanked",
                name,
                f.yanked or None,
                policy.index_level("yanked", config),
            )
            for name, f in files
            if f.yanked is not None
        ]
    return notes


def _files_of(page: index.Page, version: str) -> list[tuple[str, index.IndexFile]]:
    # Loaded here, for a pin without hashes only: packaging.utils brings packaging.tags.
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    wanted = parse_version(version)
    found = []
    for name, file in page.files.items():
        try:
            if name.endswith(".whl"):
                release = parse_wheel_filename(name)[1]
            else:
                release = parse_sdist_filename(name)[1]
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        if wanted is not None and release == wanted:
            found.append((name, file))
    return found
