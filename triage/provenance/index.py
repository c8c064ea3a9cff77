"""The package index's project pages in their JSON form (PEP 691) as PEP 740 extends them:
one request per project names, for each of its files, the URL of its provenance or says it
has none, so files without provenance cost no request at all. Everything on a page is the
index's word, checked for shape here; a provenance URL off the index's own origin is never
followed."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from msgspec import Struct

from triage import http
from triage.core.matching import normalize_name
from triage.errors import UpstreamError

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
PROVENANCE_JSON = "application/vnd.pypi.integrity.v1+json"
MAX_PAGE_BYTES = 64 << 20  # the largest real pages (every wheel of every release) are ~20 MB
MAX_PROVENANCE_BYTES = 8 << 20  # a real provenance object is a few kB


class IndexFile(Struct, frozen=True):
    """One file as its project's page lists it."""

    sha256: str | None
    provenance: str | None  # its provenance's URL; None: the index says there is none
    says: bool = True  # False: the page says nothing of provenance (an index without PEP 740)
    yanked: str | None = None  # PEP 592: None when not yanked, else its reason ("" for none)


class Page(Struct, frozen=True):
    etag: str | None
    files: dict[str, IndexFile]
    status: str | None = None  # PEP 792 project-status (None: active, or not said)
    status_reason: str | None = None


STATUSES = ("active", "archived", "quarantined", "deprecated")  # PEP 792


_PROJECT_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?", re.ASCII)


def is_project_name(project: str) -> bool:
    """Whether `project`, normalised, is a name an index can serve (PEP 508's letters)."""
    return _PROJECT_NAME.fullmatch(normalize_name(project)) is not None


def page_url(index: str, project: str) -> str:
    return f"{index.rstrip('/')}/simple/{quote(normalize_name(project), safe='')}/"


def fetch_page(
    index: str, project: str, *, etag: str | None, timeout: float, loopback_http: bool
) -> Page | None:
    """The project's page; None when `etag` still holds (unchanged); a project the index does
    not have is a page without files."""
    url = page_url(index, project)
    answer = _get(url, etag=etag, accept=SIMPLE_JSON, timeout=timeout, loopback_http=loopback_http)
    if answer.status == 304:
        if etag is None:
            raise UpstreamError(f"{url}: the index answered 304 to a request without an ETag")
        return None
    if answer.body is None:
        return Page(None, {})
    return read_page(answer.body, url, etag=answer.etag)


def _fail(url: str, what: str) -> UpstreamError:
    return UpstreamError(f"{url}: not a project page triage reads ({what})")


def read_page(body: bytes, url: str, *, etag: str | None) -> Page:
    """The page: each file by name, and the project's status. A page of another shape is
    the index failing."""
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(url, f"not JSON: {exc}") from None
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise _fail(url, "no list of files")
    status, reason = _status(document.get("project-status"), url)
    return Page(etag, _files(files, url), status, reason)


def _status(value: Any, url: str) -> tuple[str | None, str | None]:
    """PEP 792's project status; an unknown one is the index's word all the same."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        raise _fail(url, "project-status is not an object with a status")
    reason = value.get("reason")
    status = value["status"]
    return (None if status == "active" else status), reason if isinstance(reason, str) else None


def _files(files: list[Any], url: str) -> dict[str, IndexFile]:
    found: dict[str, IndexFile] = {}
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise _fail(url, "a file without a name")
        hashes = entry.get("hashes")
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        provenance = entry.get("provenance")
        yanked = entry.get("yanked", False)
        if not isinstance(yanked, bool | str):
            raise _fail(url, f"{entry['filename']}: yanked is neither true/false nor a reason")
        why = None if yanked is False else ("" if yanked is True else yanked)
        if "provenance" not in entry:
            found[entry["filename"]] = IndexFile(_text(sha256), None, says=False, yanked=why)
        elif provenance is None or isinstance(provenance, str):
            link = urljoin(url, provenance) if provenance else None
            found[entry["filename"]] = IndexFile(_text(sha256), link, yanked=why)
        else:
            raise _fail(url, f"{entry['filename']}: provenance is neither a URL nor null")
    return found


def _text(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def on_index(url: str, index: str) -> bool:
    """Whether `url` is on the index's own origin (scheme, host and port)."""
    mine, theirs = urlsplit(index), urlsplit(url)
    return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)


def fetch_provenance(url: str, *, timeout: float, loopback_http: bool) -> str | None:
    """A provenance object the page named; None when the index has none after all (404)."""
    answer = _get(
        url, etag=None, accept=PROVENANCE_JSON, timeout=timeout, loopback_http=loopback_http
    )
    return None if answer.body is None else answer.body.decode("utf-8", errors="replace")


def _get(
    url: str, *, etag: str | None, accept: str, timeout: float, loopback_http: bool
) -> http.Answer:
    """One request to the index for a page (conditional) or a provenance object."""
    return http.get_conditional(
        url,
        etag=etag,
        max_bytes=MAX_PAGE_BYTES if accept == SIMPLE_JSON else MAX_PROVENANCE_BYTES,
        headers={"Accept": accept},
        timeout=timeout,
        server="the index",
        loopback_http=loopback_http,
    )


def page_json(page: Page) -> str:
    """A page as kept: its status and {filename: [sha256, provenance URL, says, yanked]}."""
    return json.dumps(
        {
            "status": [page.status, page.status_reason],
            "files": {
                name: [f.sha256, f.provenance, f.says, f.yanked]
                for name, f in sorted(page.files.items())
            },
        },
        separators=(",", ":"),
    )


def page_from_json(text: str, etag: str | None) -> Page | None:
    """What `page_json` kept; None for anything else (the page is asked for again)."""
    try:
        kept: Any = json.loads(text)
        status, reason = kept["status"]
        files = {
            str(name): IndexFile(
                _optional(sha256), _optional(provenance), bool(says), _optional(yanked)
            )
            for name, (sha256, provenance, says, yanked) in kept["files"].items()
        }
        return Page(etag, files, _optional(status), _optional(reason))
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None


def _optional(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("not a string")
