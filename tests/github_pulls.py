"""The loopback GitHub's git writes and pull requests, as GitHub's REST API answers them
(docs.github.com/rest/git/{blobs,trees,commits,refs} and /rest/pulls/pulls): blobs, trees on a
base tree, commits, branch refs (created, moved with force, deleted), and pull requests, which
share their numbers with issues. Each repository starts with one commit on `main`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.github_server import GitHubServer

Answer = tuple[int, Any, dict[str, str]]


def _sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(kind.encode() + b" %d\0" % len(data) + data).hexdigest()


@dataclass
class RepoObjects:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # sha -> {path: blob sha}
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha


class PullRequests:
    """Git objects and pull requests of the loopback server's repositories."""

    def __init__(self, server: GitHubServer) -> None:
        self.server = server
        self.repos: dict[str, RepoObjects] = {}
        self.pulls: dict[str, dict[int, dict[str, Any]]] = {}

    # --- setup and inspection -------------------------------------------------------------------

    def objects(self, repo: str) -> RepoObjects:
        if repo not in self.repos:
            objects = RepoObjects()
            tree = self._put_tree(objects, {})
            commit = self._put_commit(objects, repo, "initial", tree, [])
            objects.refs["heads/main"] = commit["sha"]
            self.repos[repo] = objects
        return self.repos[repo]

    def files_at(self, repo: str, branch: str) -> dict[str, bytes]:
        """The files of `branch`'s head commit."""
        objects = self.objects(repo)
        tree = objects.trees[objects.commits[objects.refs[f"heads/{branch}"]]["tree"]["sha"]]
        return {path: objects.blobs[sha] for path, sha in tree.items()}

    def open_pulls(self, repo: str) -> list[dict[str, Any]]:
        return [p for p in self.pulls.get(repo, {}).values() if p["state"] == "open"]

    # --- objects ----------------------------------------------------------------------------------

    def _put_tree(self, objects: RepoObjects, entries: dict[str, str]) -> str:
        sha = _sha("tree", json.dumps(sorted(entries.items())).encode())
        objects.trees[sha] = dict(entries)
        return sha

    def _put_commit(
        self, objects: RepoObjects, repo: str, message: str, tree: str, parents: list[str]
    ) -> dict[str, Any]:
        body = json.dumps([message, tree, parents]).encode()
        sha = _sha("commit", body)
        url = f"{self.server.url}/repos/{repo}/git/commits/{sha}"
        commit = {
            "sha": sha,
            "node_id": f"C_{sha[:8]}",
            "url": url,
            "html_url": f"https://github.test/{repo}/commit/{sha}",
            "message": message,
            "tree": {"sha": tree, "url": f"{self.server.url}/repos/{repo}/git/trees/{tree}"},
            "parents": [
                {"sha": p, "url": f"{self.server.url}/repos/{repo}/git/commits/{p}"}
                for p in parents
            ],
            "author": {"name": "triage", "email": "t@example.test", "date": "2026-11-24T12:00:00Z"},
            "committer": {
                "name": "triage",
                "email": "t@example.test",
                "date": "2026-11-24T12:00:00Z",
            },
        }
        objects.commits[sha] = commit
        return commit

    def _ref(self, repo: str, name: str) -> dict[str, Any]:
        sha = self.objects(repo).refs[name]
        return {
            "ref": f"refs/{name}",
            "node_id": f"REF_{sha[:8]}",
            "url": f"{self.server.url}/repos/{repo}/git/refs/{name}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{self.server.url}/repos/{repo}/git/commits/{sha}",
            },
        }

    def _pull(self, repo: str, number: int, payload: dict[str, Any]) -> dict[str, Any]:
        issue = self.server._issue(
            repo, number, payload["title"], payload.get("body") or "", pull_request=True
        )
        owner = repo.split("/")[0]
        sha = self.objects(repo).refs[f"heads/{payload['head']}"]
        issue.update(
            url=f"{self.server.url}/repos/{repo}/pulls/{number}",
            issue_url=f"{self.server.url}/repos/{repo}/issues/{number}",
            html_url=f"https://github.test/{repo}/pull/{number}",
            head={
                "ref": payload["head"],
                "sha": sha,
                "label": f"{owner}:{payload['head']}",
                "repo": {"full_name": repo},
            },
            base={
                "ref": payload["base"],
                "label": f"{owner}:{payload['base']}",
                "repo": {"full_name": repo},
            },
            merged=False,
            draft=False,
        )
        return issue

    # --- routes -------------------------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> Answer | None:
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/(git/[a-z]+|pulls)(?:/(.*))?", path)
        if not found:
            return None
        repo, area, rest = found.group(1), found.group(2), found.group(3) or ""
        if area == "pulls":
            return self._pulls(method, repo, rest, query, payload)
        objects = self.objects(repo)
        if area == "git/blobs" and method == "POST":
            data = (
                base64.b64decode(payload["content"])
                if payload.get("encoding") == "base64"
                else str(payload["content"]).encode()
            )
            sha = _sha("blob", data)
            objects.blobs[sha] = data
            return 201, {"sha": sha, "url": f"{self.server.url}/repos/{repo}/git/blobs/{sha}"}, {}
        if area == "git/trees" and method == "POST":
            entries = dict(objects.trees.get(payload.get("base_tree") or "", {}))
            for item in payload["tree"]:
                if item.get("sha") is None and "content" not in item:
                    entries.pop(item["path"], None)
                    continue
                if "content" in item:
                    data = str(item["content"]).encode()
                    objects.blobs[_sha("blob", data)] = data
                    item = {**item, "sha": _sha("blob", data)}
                if item["sha"] not in objects.blobs:
                    return 422, "Validation Failed", {}
                entries[item["path"]] = item["sha"]
            sha = self._put_tree(objects, entries)
            listed = [
                {"path": p, "mode": "100644", "type": "blob", "sha": s}
                for p, s in sorted(entries.items())
            ]
            url = f"{self.server.url}/repos/{repo}/git/trees/{sha}"
            return 201, {"sha": sha, "url": url, "tree": listed, "truncated": False}, {}
        if area == "git/commits" and method == "POST":
            if payload["tree"] not in objects.trees:
                return 422, "Validation Failed", {}
            commit = self._put_commit(
                objects, repo, payload["message"], payload["tree"], list(payload.get("parents", []))
            )
            return 201, commit, {}
        if area == "git/commits" and method == "GET":
            stored = objects.commits.get(rest)
            return (200, stored, {}) if stored else (404, "Not Found", {})
        if area == "git/ref" and method == "GET":
            return (
                (200, self._ref(repo, rest), {}) if rest in objects.refs else (404, "Not Found", {})
            )
        if area == "git/refs" and method == "POST":
            name = str(payload["ref"]).removeprefix("refs/")
            if name in objects.refs:
                return 422, "Reference already exists", {}
            if payload["sha"] not in objects.commits:
                return 422, "Object does not exist", {}
            objects.refs[name] = payload["sha"]
            return 201, self._ref(repo, name), {}
        if area == "git/refs" and method == "PATCH":
            if rest not in objects.refs:
                return 422, "Reference does not exist", {}
            objects.refs[rest] = payload["sha"]
            for pull in self.pulls.get(repo, {}).values():
                if f"heads/{pull['head']['ref']}" == rest:
                    pull["head"]["sha"] = payload["sha"]
            return 200, self._ref(repo, rest), {}
        if area == "git/refs" and method == "DELETE":
            if objects.refs.pop(rest, None) is None:
                return 422, "Reference does not exist", {}
            return 204, None, {}
        return None

    def _pulls(
        self,
        method: str,
        repo: str,
        rest: str,
        query: dict[str, list[str]],
        payload: dict[str, Any],
    ) -> Answer | None:
        pulls = self.pulls.setdefault(repo, {})
        if rest == "" and method == "GET":
            state = query.get("state", ["open"])[0]
            base = query.get("base", [None])[0]
            listed = [
                p
                for n, p in sorted(pulls.items(), reverse=True)
                if state in ("all", p["state"]) and base in (None, p["base"]["ref"])
            ]
            return self.server._page(listed, f"/repos/{repo}/pulls", query)
        if rest == "" and method == "POST":
            if f"heads/{payload.get('head')}" not in self.objects(repo).refs:
                return 422, "Validation Failed", {}
            if any(p["head"]["ref"] == payload["head"] for p in self.open_pulls(repo)):
                return 422, "A pull request already exists", {}
            issues = self.server.state.issues.setdefault(repo, {})
            number = max(issues, default=0) + 1
            pull = self._pull(repo, number, payload)
            issues[number] = pull
            pulls[number] = pull
            return 201, pull, {}
        if rest.isdigit() and int(rest) in pulls:
            pull = pulls[int(rest)]
            if method == "GET":
                return 200, pull, {}
            if method == "PATCH":
                for name in ("title", "body", "state"):
                    if name in payload:
                        pull[name] = payload[name]
                return 200, pull, {}
        return None
