"""The loopback GitHub's organisations and git data: the repository listing of an organisation
(paginated), and each default branch's tree (recursive) and blobs through the Git Trees and
Blobs API, with git's own object ids. Also its request budget: GitHub's primary rate limit
(5,000 an hour; a 304 answer to a conditional request is not charged) and secondary limits
(once tripped, every request is refused with Retry-After until the window passes).

Shapes follow GitHub's REST documentation (docs.github.com/rest/repos/repos#list-
organization-repositories, /git/trees, /git/blobs) and the headers of the recordings in
../shared/data/github-api-recordings."""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

FILE_MODE = "100644"
LINK_MODE = "120000"
RATE_LIMIT = 5000


def blob_id(data: bytes) -> str:
    """git's object id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    full_name: str
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # path -> target (symbolic links)
    default_branch: str = "main"
    fork: bool = False
    archived: bool = False
    truncated: bool = False  # GitHub cuts recursive listings past 100,000 entries
    served_instead: dict[str, bytes] = field(default_factory=dict)  # path -> bytes its blob
    # request is answered with (a lying server or proxy)

    def entries(self) -> list[tuple[str, str, bytes]]:
        """(path, mode, content) of every file and link, sorted by path."""
        items = [(p, FILE_MODE, d) for p, d in self.files.items()]
        items += [(p, LINK_MODE, t.encode()) for p, t in self.links.items()]
        return sorted(items)


@dataclass
class Budget:
    """GitHub's request accounting for the one token the server knows."""

    remaining: int = RATE_LIMIT
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)
    charged: int = 0
    not_charged: int = 0  # 304 answers
    refused: int = 0  # secondary limit refusals
    secondary_in: int | None = None  # requests left before the secondary limit trips
    secondary_on: str | None = None  # or: the first request of this method trips it
    secondary_seconds: float = 1.0
    secondary_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trip_secondary_after(self, requests: int, seconds: float) -> None:
        self.secondary_in, self.secondary_seconds = requests, seconds

    def trip_secondary_on(self, method: str, seconds: float) -> None:
        self.secondary_on, self.secondary_seconds = method, seconds

    def refusal(self, method: str) -> tuple[int, Any, dict[str, str]] | None:
        """A refusal for this request, if a limit stands; counts the request towards
        tripping the secondary limit."""
        with self.lock:
            now = time.monotonic()
            if self.secondary_in is not None:
                self.secondary_in -= 1
                if self.secondary_in < 0:
                    self.secondary_in = None
                    self.secondary_until = now + self.secondary_seconds
            if self.secondary_on == method:
                self.secondary_on = None
                self.secondary_until = now + self.secondary_seconds
            if now < self.secondary_until:
                self.refused += 1
                wait = str(max(1, math.ceil(self.secondary_until - now)))
                return (
                    403,
                    "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again.",
                    {"Retry-After": wait},
                )
            if self.remaining <= 0:
                self.refused += 1
                return 403, "API rate limit exceeded for user ID 1.", self.headers()
        return None

    def charge(self, status: int) -> dict[str, str]:
        with self.lock:
            if status == 304:
                self.not_charged += 1
            else:
                self.remaining -= 1
                self.charged += 1
            return self.headers()

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Used": str(RATE_LIMIT - max(0, self.remaining)),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Resource": "core",
        }


class GitData:
    """Organisations' repositories and their git objects, served read-only."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.repos: dict[str, Repo] = {}
        self.blob_reads: list[tuple[str, str]] = []  # (repository, blob id) in order served

    def add_repo(self, repo: Repo) -> Repo:
        self.repos[repo.full_name] = repo
        return repo

    def _repo_object(self, repo: Repo, index: int) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        return {
            "id": 100000 + index,
            "node_id": f"R_{index}",
            "name": name,
            "full_name": repo.full_name,
            "private": False,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "html_url": f"https://github.test/{repo.full_name}",
            "url": f"{self.url}/repos/{repo.full_name}",
            "fork": repo.fork,
            "archived": repo.archived,
            "disabled": False,
            "default_branch": repo.default_branch,
            "visibility": "public",
        }

    def _tree(self, repo: Repo) -> dict[str, Any]:
        items: list[dict[str, Any]] = [
            {
                "path": path,
                "mode": mode,
                "type": "blob",
                "sha": blob_id(data),
                "size": len(data),
                "url": f"{self.url}/repos/{repo.full_name}/git/blobs/{blob_id(data)}",
            }
            for path, mode, data in repo.entries()
        ]
        # Directories appear as entries of type tree in a recursive listing.
        folders = sorted({p.rsplit("/", 1)[0] for p, _, _ in repo.entries() if "/" in p})
        for folder in folders:
            digest = hashlib.sha1(folder.encode()).hexdigest()
            items.append({"path": folder, "mode": "040000", "type": "tree", "sha": digest})
        items.sort(key=lambda item: item["path"])
        listing = "\n".join(f"{i['mode']} {i['sha']} {i['path']}" for i in items)
        sha = hashlib.sha1(listing.encode()).hexdigest()
        return {
            "sha": sha,
            "url": f"{self.url}/repos/{repo.full_name}/git/trees/{sha}",
            "tree": items,
            "truncated": repo.truncated,
        }

    def route(
        self, method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]] | None:
        """The answer for an organisation or git-data request; None for other paths."""
        if method != "GET":
            return None
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "orgs" and parts[2] == "repos":
            listed = [r for r in self.repos.values() if r.full_name.split("/")[0] == parts[1]]
            if not listed:
                return 404, "Not Found", {}
            objects = [self._repo_object(r, i) for i, r in enumerate(listed)]
            return 200, objects, {"__page__": "1"}
        if len(parts) >= 6 and parts[0] == "repos" and parts[3] == "git":
            repo = self.repos.get(f"{parts[1]}/{parts[2]}")
            if repo is None:
                return 404, "Not Found", {}
            if parts[4] == "trees":
                ref = "/".join(parts[5:])
                if not repo.entries():
                    return 409, "Git Repository is empty.", {}
                tree = self._tree(repo)
                if ref not in (repo.default_branch, tree["sha"]):
                    return 404, "Not Found", {}
                return 200, tree, {}
            if parts[4] == "blobs" and len(parts) == 6:
                for entry_path, _, data in repo.entries():
                    if blob_id(data) == parts[5]:
                        self.blob_reads.append((repo.full_name, parts[5]))
                        data = repo.served_instead.get(entry_path, data)
                        encoded = base64.encodebytes(data).decode()
                        return (
                            200,
                            {
                                "sha": parts[5],
                                "node_id": f"B_{parts[5][:8]}",
                                "size": len(data),
                                "url": f"{self.url}/{path.strip('/')}",
                                "content": encoded,
                                "encoding": "base64",
                            },
                            {},
                        )
                return 404, "Not Found", {}
        return None
