"""An organisation's repositories read without cloning: the listing, each default branch's
tree and the blobs triage reads, through PyGithub's requester (GitHub's Git Trees and Blobs
API). Trees are asked for conditionally (If-None-Match with the last ETag): an unchanged
repository costs one answer, 304, that GitHub does not charge. Every blob is checked against
its git object id before it is used.

Every request goes through the token's one `Budget` (session.py), as the issue writes of the
same run do, so a secondary limit met by any request pauses every request of the token: all
threads of this process, or every Celery worker when the budget lives in the broker."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from msgspec import Struct

from triage.errors import InputError, UpstreamError
from triage.github import session
from triage.github.session import Budget

if TYPE_CHECKING:
    from github.Requester import Requester

ATTEMPTS = 5
PER_PAGE = 100
SUBMODULE_MODE = "160000"


class Listed(Struct, frozen=True):
    """One repository of the organisation's listing."""

    full_name: str
    default_branch: str
    fork: bool
    archived: bool


class Tree(Struct, frozen=True):
    """A default branch's tree: None entries when GitHub answered 304 (unchanged)."""

    etag: str | None
    sha: str | None
    entries: list[tuple[str, str, str]] | None  # (path, mode, blob id)


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class OrgReader:
    """Read-only GitHub access for the organisation audit; counts the requests it sends."""

    def __init__(
        self, token: str, api_url: str, shared: Budget, *, pace: float = 1.0, agent: str = ""
    ) -> None:
        self._session = session.client(token, api_url, shared, pace=pace, agent=agent)
        self._api = urlsplit(api_url.rstrip("/"))

    @property
    def counts(self) -> session.Counts:
        return self._session.counts

    @property
    def _requester(self) -> Requester:
        return self._session.github.requester

    def _get(
        self, what: str, url: str, params: dict[str, Any] | None = None, *, etag: str | None = None
    ) -> tuple[int, dict[str, str], str]:
        from requests import RequestException

        headers = {"If-None-Match": etag} if etag else {}
        last = ""
        for attempt in range(ATTEMPTS):
            try:  # a turn in the budget, and rate-limit refusals, are the session's
                status, answer_headers, body = self._requester.requestJson(
                    "GET", url, params, headers
                )
            except RequestException as exc:
                last = type(exc).__name__
                time.sleep(0.2 * 2**attempt)
                continue
            if status >= 500:
                last = f"{status}"
                time.sleep(0.2 * 2**attempt)
                continue
            return status, answer_headers, body
        raise UpstreamError(
            f"GitHub did not answer while trying to {what} ({last}) after {ATTEMPTS} attempts",
            hint="GitHub may be down or limiting this token; the run can be repeated safely",
        )

    def _json(self, what: str, body: str) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise UpstreamError(f"GitHub's answer to {what} is not JSON") from None

    def repositories(self, org: str) -> list[Listed]:
        """Every repository of `org`, following the listing's pages."""
        url: str | None = f"/orgs/{org}/repos"
        params: dict[str, Any] | None = {"type": "all", "per_page": PER_PAGE}
        found: list[Listed] = []
        while url is not None:
            what = f"list the repositories of {org}"
            status, headers, body = self._get(what, url, params)
            if status == 404:
                raise InputError(
                    f"GitHub knows no organisation {org!r} (or the token cannot see it)",
                    hint="check --org and the token's access (read:org, repository contents)",
                )
            if status != 200:
                raise UpstreamError(f"GitHub refused to {what}: {status} {body[:200]}")
            items = self._json(what, body)
            if not isinstance(items, list):
                raise UpstreamError(f"GitHub's answer to {what} is not a list")
            for item in items:
                found.append(_listed(item, org))
            url, params = _next_link(headers), None
            if url is not None and not self._is_api(url):
                raise UpstreamError(
                    f"GitHub's link to the next page of {org}'s repositories leaves "
                    f"{self._api.geturl()}: {url[:200]}",
                    hint="a proxy between triage and GitHub may be rewriting Link headers",
                )
        return found

    def _is_api(self, url: str) -> bool:
        """A URL of this API (same scheme, host, port and path prefix): the token goes
        nowhere else."""
        try:
            found = urlsplit(url)
            port = found.port
        except ValueError:
            return False
        return (found.scheme, found.hostname, port) == (
            self._api.scheme,
            self._api.hostname,
            self._api.port,
        ) and found.path.startswith(self._api.path + "/")

    def tree(self, repository: str, branch: str, etag: str | None) -> Tree:
        """The branch's whole tree; unchanged (None entries) when `etag` still holds."""
        what = f"read the tree of {repository}@{branch}"
        status, headers, body = self._get(
            what, f"/repos/{repository}/git/trees/{branch}", {"recursive": "1"}, etag=etag
        )
        if status == 304:
            return Tree(etag, None, None)
        if status == 409:
            raise InputError(
                f"{repository}: the repository is empty (no commit on {branch})",
                hint="push the project with its lockfile, or exclude the repository in [org]",
            )
        if status != 200:
            raise UpstreamError(f"GitHub refused to {what}: {status} {body[:200]}")
        data = self._json(what, body)
        if not isinstance(data, dict) or not isinstance(data.get("tree"), list):
            raise UpstreamError(f"GitHub's answer to {what} is not a tree")
        if data.get("truncated"):
            raise InputError(
                f"{repository}@{branch}: GitHub truncated the tree listing (too many files), "
                "so some lockfiles might not be seen",
                hint="audit this repository from a checkout with `triage audit`, and exclude it "
                "in [org]",
            )
        entries = [
            (str(e["path"]), str(e["mode"]), str(e["sha"]))
            for e in data["tree"]
            if isinstance(e, dict)
            and e.get("type") in ("blob", "commit")
            and isinstance(e.get("path"), str)
            and isinstance(e.get("sha"), str)
        ]
        return Tree(_header(headers, "etag"), str(data.get("sha", "")), entries)

    def blob(self, repository: str, sha: str) -> bytes:
        what = f"read blob {sha[:12]} of {repository}"
        status, _, body = self._get(what, f"/repos/{repository}/git/blobs/{sha}")
        if status != 200:
            raise UpstreamError(f"GitHub refused to {what}: {status} {body[:200]}")
        data = self._json(what, body)
        try:
            content = base64.b64decode(str(data["content"]).encode(), validate=False)
        except (KeyError, TypeError, binascii.Error):
            raise UpstreamError(f"GitHub's answer to {what} has no base64 content") from None
        if blob_id(content) != sha:
            raise UpstreamError(
                f"{repository}: GitHub's blob {sha} does not match its id; refusing to read it"
            )
        return content


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)


def _next_link(headers: Mapping[str, str]) -> str | None:
    for part in (_header(headers, "link") or "").split(","):
        url, _, rel = part.partition(";")
        if rel.strip() == 'rel="next"':
            return url.strip().strip("<>")
    return None


def _listed(item: Any, org: str) -> Listed:
    if not isinstance(item, dict) or not isinstance(item.get("full_name"), str):
        raise UpstreamError(f"GitHub's listing of {org} holds something that is not a repository")
    return Listed(
        item["full_name"],
        str(item.get("default_branch") or "main"),
        bool(item.get("fork")),
        bool(item.get("archived")),
    )


def worker_agent() -> str:
    """Names the process in the User-Agent, so GitHub's logs (and a test) tell workers apart."""
    return f" (pid {os.getpid()})"
