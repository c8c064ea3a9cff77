"""The package index's project pages (PEP 691) within one run: each project asked for once,
whatever asks (provenance, yanked files, project status), conditionally with the ETag kept
from the last run, and kept in the database; a page sent without an ETag is reused for ten
minutes. Lookups end at the run's first failure (service/fetching)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from msgspec import Struct

from triage import store
from triage.errors import UpstreamError
from triage.provenance import index
from triage.service.fetching import fetch_all, phase
from triage.service.workspace import Workspace

# A page the index sent without an ETag cannot be asked about conditionally: it is reused for
# as long as PyPI lets its pages be cached (Cache-Control: max-age=600), then asked again.
PAGE_FRESH = dt.timedelta(minutes=10)
Answer = index.Page | UpstreamError


class _Kept(Struct, frozen=True):
    page: index.Page
    fresh: bool  # kept without an ETag less than PAGE_FRESH ago: used without asking


def project_pages(
    ws: Workspace, caches: store.Caches, projects: Sequence[str], *, purpose: str
) -> dict[str, Answer]:
    """Each project's page (or why there is none), asked for at most once a run."""
    settings, now = ws.settings, ws.now()
    timeout, _ = settings.index_timing()
    seen = ws.lookups.pages
    for project in projects:
        if not index.is_project_name(project):  # no index serves it: nothing is asked
            seen.setdefault(project, UpstreamError(f"{project!r} is not a project name"))
    urls = {p: index.page_url(settings.pypi_url, p) for p in projects if p not in seen}
    kept = {p: _kept_page(caches, url, now=now) for p, url in urls.items()}

    def page(project: str) -> index.Page:
        held = kept[project]
        fetched = index.fetch_page(
            settings.pypi_url,
            project,
            etag=held.page.etag if held else None,
            timeout=timeout,
            loopback_http=settings.loopback_http,
        )
        return fetched or (held.page if held else index.Page(None, {}))

    fresh = {p: held.page for p, held in kept.items() if held is not None and held.fresh}
    asked = [p for p in urls if p not in fresh]
    answers = fetch_all(
        asked,
        page,
        lookups=ws.lookups,
        settings=settings,
        progress=phase(ws.progress, f"{purpose}: project pages", len(asked)),
    )
    for project, answer in zip(asked, answers, strict=True):
        held = kept[project]
        if not isinstance(answer, UpstreamError) and (held is None or answer is not held.page):
            caches.cache_page(urls[project], answer.etag, index.page_json(answer), fetched=now)
        seen[project] = answer
    seen.update(fresh)
    return {p: seen[p] for p in projects}


def _kept_page(caches: store.Caches, url: str, *, now: dt.datetime) -> _Kept | None:
    """The page as an earlier run kept it, when intact and readable."""
    held = caches.cached_page(url)
    page = index.page_from_json(held[1], held[0]) if held else None
    if held is None or page is None:
        return None
    etag, _, fetched = held
    fresh = etag is None and fetched is not None and dt.timedelta(0) <= now - fetched < PAGE_FRESH
    return _Kept(page, fresh)


def or_kept(ws: Workspace, caches: store.Caches, answers: dict[str, Answer]) -> dict[str, Answer]:
    """Each lookup that was not answered (--offline, the index unreachable) answered by the page
    an earlier run kept, however old: what a fix plans from, where a page only lists releases
    and nothing is judged by its age."""
    found = dict(answers)
    for project, answer in answers.items():
        if isinstance(answer, UpstreamError) and index.is_project_name(project):
            held = _kept_page(caches, index.page_url(ws.settings.pypi_url, project), now=ws.now())
            if held is not None:
                found[project] = held.page
    return found
