"""Provenance of locked files from the package index, for the trust check: one request per
project (its JSON page, asked conditionally with the ETag kept from the last run), then one
per file the page names provenance for; a file the page says has none costs nothing. Answers
are kept by file and digest, so later runs (and --offline) use them: a file with none is
asked about again after 30 days. Lookups end at the run's first failure (service/fetching):
what was not checked is said, in one line, and [trust] unsigned decides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from msgspec import Struct, field

from triage import store
from triage.core.diagnostics import Diagnostics
from triage.core.matching import normalize_name
from triage.core.trust import hash_only
from triage.errors import UpstreamError
from triage.models import Package
from triage.provenance import index
from triage.service import pages
from triage.service.fetching import fetch_all, phase
from triage.service.workspace import Workspace

# Attestations are uploaded with the file they describe, so a file the index has none for
# practically never gains one; asking again monthly catches the rare backfill.
NO_PROVENANCE_RECHECK = dt.timedelta(days=30)
Artifact = tuple[Package, str, str]  # the package, the file's name, its sha256


class _Outcome(Struct):
    """What the lookups of one run found, and what they could not check, by why."""

    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    unchecked: int = 0
    silent: int = 0  # on pages that say nothing of provenance
    off_index: list[str] = field(default_factory=list)


def provenance_texts(
    ws: Workspace, caches: store.Caches, artifacts: Sequence[Artifact], *, diagnostics: Diagnostics
) -> dict[tuple[str, str], str]:
    """The provenance JSON of each artifact that has some, by (filename, sha256); a hash-only
    pin's is found on its project's page by digest."""
    found = _Outcome()
    wanted: dict[str, list[Artifact]] = {}
    now = ws.now()
    known = caches.cached_provenances((filename, sha256) for _, filename, sha256 in artifacts)
    for artifact in artifacts:
        _, filename, sha256 = artifact
        cached = known.get((filename, sha256))
        if cached is not None:
            text, checked = cached
            if text:
                found.texts[(filename, sha256)] = text
                continue
            if checked is not None and now - checked <= NO_PROVENANCE_RECHECK:
                continue
        wanted.setdefault(normalize_name(artifact[0].name), []).append(artifact)
    if wanted:
        _look_up(ws, caches, wanted, found=found)
        _say(ws, found, diagnostics)
    return found.texts


def _look_up(
    ws: Workspace, caches: store.Caches, wanted: dict[str, list[Artifact]], *, found: _Outcome
) -> None:
    settings, now = ws.settings, ws.now()
    timeout, _ = settings.index_timing()
    projects = sorted(wanted)
    fetched = pages.project_pages(ws, caches, projects, purpose="provenance")
    to_fetch: list[tuple[str, str, str]] = []
    for project in projects:
        answer = fetched[project]
        if isinstance(answer, UpstreamError):
            found.unchecked += len(wanted[project])
            continue
        by_digest = {f.sha256: f for f in answer.files.values() if f.sha256}
        for _, filename, sha256 in wanted[project]:
            # A hash-only pin has no file name: the page's file with its digest is the one.
            listed = by_digest.get(sha256) if hash_only(filename) else answer.files.get(filename)
            if listed is not None and not listed.says:
                found.silent += 1
            elif listed is None or listed.provenance is None or listed.sha256 != sha256:
                caches.cache_provenance(filename, sha256, "", fetched=now)  # the index has none
            elif not index.on_index(listed.provenance, settings.pypi_url):
                found.off_index.append(filename)
            else:
                to_fetch.append((filename, sha256, listed.provenance))
    bodies = fetch_all(
        to_fetch,
        lambda item: index.fetch_provenance(
            item[2], timeout=timeout, loopback_http=settings.loopback_http
        ),
        lookups=ws.lookups,
        settings=settings,
        progress=phase(ws.progress, "provenance: files", len(to_fetch)),
    )
    for (filename, sha256, _), body in zip(to_fetch, bodies, strict=True):
        if isinstance(body, UpstreamError):
            found.unchecked += 1
            continue
        caches.cache_provenance(filename, sha256, body or "", fetched=now)
        if body:
            found.texts[(filename, sha256)] = body


def _say(ws: Workspace, found: _Outcome, diagnostics: Diagnostics) -> None:
    where = ws.settings.pypi_url
    if found.unchecked:
        why = ws.lookups.ended or "the index did not answer"
        diagnostics.warn(
            f"{why}; provenance of {found.unchecked} file(s) not checked, using cached "
            "provenance only ([trust] unsigned decides)"
        )
    if found.silent:
        diagnostics.warn(
            f"{where}: its project pages say nothing of provenance (PEP 740); "
            f"{found.silent} file(s) not checked"
        )
    if found.off_index:
        diagnostics.warn(
            f"{where}: provenance of {len(found.off_index)} file(s) named off the index "
            f"(e.g. {found.off_index[0]}); not fetched"
        )
