"""A loopback GitHub REST API for tests, driven through the real PyGithub client.

It speaks the endpoints triage uses (repositories, issues, pull requests, issue comments,
labels, search) with GitHub's status codes, `Link` pagination, rate-limit headers and error
bodies. Object shapes come from the recorded real responses in
../shared/data/github-api-recordings (octokit/fixtures), with URLs pointed at this server.
Faults can be queued: a 502, a dropped connection (before or after the request took effect)
and a secondary rate limit.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.github_git import Budget, GitData
from tests.github_pulls import PullRequests

RECORDINGS = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "data" / ("github-api-recordings")
)
RECORDED_HOST = "https://api.github.com"
RECORDED_REPO = "octokit-fixture-org/add-labels-to-issue"
DOCS = "https://docs.github.com/rest"


def _recorded(name: str, index: int) -> Any:
    return json.loads((RECORDINGS / name).read_text())[index]


@dataclass
class Fault:
    """One injected failure for the next request matching `method` and `path` (a regex)."""

    method: str
    path: str
    kind: str  # "502" | "drop" (before acting) | "drop-after" (acted, then dropped) | "secondary"


@dataclass
class State:
    token: str
    issues: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    assignable: set[str] = field(default_factory=set)  # logins GitHub lets be assigned
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 5000


class GitHubServer:
    def __init__(self, token: str = "ghp_test_token_do_not_print") -> None:
        self.state = State(token)
        self.waits: list[float] = []  # what the client waited between attempts, in seconds
        self._issue_template = _recorded("add-labels-to-issue.json", 0)["response"]
        recorded_error = _recorded("errors.json", 0)
        self._validation_error = recorded_error["response"]
        self._headers = {
            k: v
            for k, v in recorded_error["headers"].items()
            if k.lower().startswith("x-") or k.lower() == "content-type"
        }
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        default_error = self._server.handle_error

        def handle_error(request: Any, address: Any) -> None:
            # A client that died mid-request (a killed worker) is not the server's failure.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                default_error(request, address)

        self._server.handle_error = handle_error  # type: ignore[method-assign,assignment]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.git = GitData(self.url)
        self.pulls = PullRequests(self)
        self.budget = Budget()
        # A request to hold (path, arrived, release): it waits, outside the server's lock,
        # until released; `held_by` is the User-Agent that sent it.
        self.hold: tuple[str, threading.Event, threading.Event] | None = None
        self.held_by = ""
        self.link_origin: str | None = None  # pages' Link headers point here instead (a proxy
        # rewriting them, say)

    # --- setup and inspection -----------------------------------------------------------------

    def add_pull_request(self, repo: str, number: int) -> None:
        self.state.issues.setdefault(repo, {})[number] = self._issue(
            repo, number, f"PR {number}", "", pull_request=True
        )

    def add_issue(self, repo: str, title: str, *, closed: bool = False) -> dict[str, Any]:
        issues = self.state.issues.setdefault(repo, {})
        issue = self._issue(repo, max(issues, default=0) + 1, title, "")
        if closed:
            issue.update(state="closed", closed_at=self._now())
        issues[issue["number"]] = issue
        return issue

    @property
    def login(self) -> str:
        """The account the server's token belongs to (the recordings' user)."""
        return str(self._issue_template["user"]["login"])

    def add_comment_by(self, login: str, repo: str, number: int, body: str) -> dict[str, Any]:
        """A comment someone else wrote (it may quote triage's markers)."""
        comment = self._comment(repo, number, body)
        comment["user"] = {**comment["user"], "login": login, "id": self._new_id()}
        self.state.comments[comment["id"]] = comment
        return comment

    def add_issue_by(self, login: str, repo: str, title: str, body: str) -> dict[str, Any]:
        """An issue someone else opened (it may quote triage's markers)."""
        issue = self.add_issue(repo, title)
        issue.update(body=body, user={**issue["user"], "login": login, "id": self._new_id()})
        return issue

    def fail(self, method: str, path: str, kind: str) -> None:
        self.state.faults.append(Fault(method, path, kind))

    def fail_request(self, index: int, kind: str) -> None:
        """Fail the request with this 0-based index (counted from the server's start)."""
        self.state.faults.append(Fault("*", f"#{index}", kind))

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        issue_url = f"{self.url}/repos/{repo}/issues/{number}"
        return [c for c in self.state.comments.values() if c["issue_url"] == issue_url]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.state.requests if m != "GET"]

    @contextmanager
    def running(self) -> Iterator[GitHubServer]:
        # A short poll interval: shutdown() waits for the loop's next look at its flag.
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    # --- objects ------------------------------------------------------------------------------

    def _rewrite(self, value: Any, repo: str) -> Any:
        text = json.dumps(value).replace(RECORDED_HOST, self.url).replace(RECORDED_REPO, repo)
        return json.loads(text)

    def _new_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def _now(self) -> str:
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _issue(
        self, repo: str, number: int, title: str, body: str, pull_request: bool = False
    ) -> dict[str, Any]:
        issue: dict[str, Any] = self._rewrite(copy.deepcopy(self._issue_template), repo)
        base = f"{self.url}/repos/{repo}/issues/{number}"
        issue.update(
            id=self._new_id(),
            number=number,
            title=title,
            body=body,
            state="open",
            labels=[],
            url=base,
            comments_url=f"{base}/comments",
            labels_url=f"{base}/labels{{/name}}",
            events_url=f"{base}/events",
            html_url=f"https://github.test/{repo}/issues/{number}",
            created_at=self._now(),
            updated_at=self._now(),
            comments=0,
            assignees=[],
            assignee=None,
        )
        if pull_request:
            issue["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{number}"}
            issue["html_url"] = f"https://github.test/{repo}/pull/{number}"
        return issue

    def _comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        comment_id = self._new_id()
        return {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.url}/repos/{repo}/issues/comments/{comment_id}",
            "html_url": f"https://github.test/{repo}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{repo}/issues/{number}",
            "body": body,
            "user": self._issue_template["user"],
            "created_at": self._now(),
            "updated_at": self._now(),
            "author_association": "NONE",
        }

    # --- HTTP ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK (tens of ms a request on loopback).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

            def do_PATCH(self) -> None:
                server._dispatch(self, "PATCH")

            def do_DELETE(self) -> None:
                server._dispatch(self, "DELETE")

        return Handler

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        extra: dict[str, str] | None = None,
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        given = {key.lower() for key in extra or {}}
        base = {k: v for k, v in self._headers.items() if k.lower() not in given}
        for key, value in {**base, **(extra or {})}.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _error(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        self._send(handler, status, {"message": message, "documentation_url": DOCS}, extra)

    def _fault_for(self, method: str, path: str) -> Fault | None:
        index = len(self.state.requests) - 1
        for fault in self.state.faults:
            by_index = fault.method == "*" and fault.path == f"#{index}"
            if by_index or (fault.method == method and re.search(fault.path, path)):
                self.state.faults.remove(fault)
                return fault
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        payload = json.loads(handler.rfile.read(length)) if length else {}
        parsed = urlparse(handler.path)
        hold = self.hold
        if hold is not None and parsed.path == hold[0]:
            self.hold = None
            self.held_by = handler.headers.get("User-Agent", "")
            hold[1].set()
            hold[2].wait(30)
        with self._lock:
            self.state.requests.append((method, parsed.path))
            fault = self._fault_for(method, parsed.path)
            if fault and fault.kind == "drop":
                handler.close_connection = True
                handler.connection.close()
                return
            if fault and fault.kind == "502":
                self._error(handler, 502, "Server Error")
                return
            if fault and fault.kind == "secondary":
                self._error(
                    handler,
                    403,
                    "You have exceeded a secondary rate limit. Please wait "
                    "a few minutes before you try again.",
                    {"Retry-After": "1"},
                )
                return
            auth = handler.headers.get("Authorization", "")
            if auth not in (f"token {self.state.token}", f"Bearer {self.state.token}"):
                self._error(handler, 401, "Bad credentials")
                return
            refusal = self.budget.refusal(method)
            if refusal is not None:
                self._error(handler, refusal[0], refusal[1], refusal[2])
                return
            query = parse_qs(parsed.query)
            routed = self.pulls.route(method, parsed.path, query, payload) or self.git.route(
                method, parsed.path, query
            )
            if routed is not None and "__page__" in routed[2]:
                routed = self._page(routed[1], parsed.path, query)
            status, body, extra = routed or self._route(method, parsed.path, query, payload)
            if fault and fault.kind == "drop-after":
                handler.close_connection = True
                handler.connection.close()
                return
            if method == "GET" and status == 200:
                # GitHub's ETag: a digest of the representation; asked again with it in
                # If-None-Match, the answer is 304, which the rate limit does not charge.
                etag = 'W/"' + hashlib.sha256(json.dumps(body).encode()).hexdigest() + '"'
                extra = {**extra, "ETag": etag}
                if handler.headers.get("If-None-Match") == etag:
                    status, body = 304, None
            extra = {**extra, **self.budget.charge(status)}
        if status >= 400:
            self._error(handler, status, body, extra)
        else:
            self._send(handler, status, body, extra)

    def _page(
        self, items: list[Any], path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if 1 <= target <= last and target != page:
                origin = self.link_origin or self.url
                links.append(f'<{origin}{path}?per_page={per_page}&page={target}>; rel="{rel}"')
        extra = {"Link": ", ".join(links)} if links else {}
        return 200, items[(page - 1) * per_page : page * per_page], extra

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/user" and method == "GET":
            return 200, self._issue_template["user"], {}
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not found:
            return 404, "Not Found", {}
        repo, rest = found.group(1), found.group(2) or ""
        issues = self.state.issues.setdefault(repo, {})
        if method == "GET" and rest == "":
            return (
                200,
                {
                    "id": 1,
                    "name": repo.split("/")[1],
                    "full_name": repo,
                    "url": f"{self.url}/repos/{repo}",
                    "private": False,
                    "default_branch": "main",
                },
                {},
            )
        if rest == "/issues" and method == "GET":
            return self._list_issues(repo, path, query)
        if rest == "/issues" and method == "POST":
            return self._create_issue(repo, payload)
        if rest == "/labels":
            return self._labels(repo, method, path, query, payload)
        number_match = re.fullmatch(r"/(issues|pulls)/(\d+)(/comments)?", rest)
        if number_match:
            number = int(number_match.group(2))
            issue = issues.get(number)
            if issue is None or (number_match.group(1) == "pulls" and "pull_request" not in issue):
                return 404, "Not Found", {}
            if number_match.group(3) is None and method == "GET":
                return 200, issue, {}
            if number_match.group(3) is None and method == "PATCH":
                return self._edit_issue(repo, issue, payload)
            if number_match.group(3) and method == "GET":
                comments = sorted(self.comments_on(repo, number), key=lambda c: c["id"])
                return self._page(comments, path, query)
            if number_match.group(3) and method == "POST":
                if not payload.get("body"):
                    return 422, "Validation Failed", {}
                comment = self._comment(repo, number, payload["body"])
                self.state.comments[comment["id"]] = comment
                issue["comments"] += 1
                return 201, comment, {}
        assignee_match = re.fullmatch(r"/assignees/([^/]+)", rest)
        if assignee_match and method == "GET":
            assignable = assignee_match.group(1) in self.state.assignable
            return (204, None, {}) if assignable else (404, "Not Found", {})
        assign_match = re.fullmatch(r"/issues/(\d+)/assignees", rest)
        if assign_match and method == "POST":
            issue = issues.get(int(assign_match.group(1)))
            if issue is None:
                return 404, "Not Found", {}
            logins = [a["login"] for a in issue["assignees"]]
            for login in payload.get("assignees", []):
                if login in self.state.assignable and login not in logins:
                    logins.append(login)
            issue["assignees"] = [{"login": login} for login in logins]
            issue["assignee"] = issue["assignees"][0] if logins else None
            return 201, issue, {}
        comment_match = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if comment_match:
            stored = self.state.comments.get(int(comment_match.group(1)))
            if stored is None:
                return 404, "Not Found", {}
            if method == "PATCH":
                stored.update(body=payload["body"], updated_at=self._now())
                return 200, stored, {}
            if method == "DELETE":
                del self.state.comments[stored["id"]]
                return 204, None, {}
            if method == "GET":
                return 200, stored, {}
        return 404, "Not Found", {}

    # --- issues and labels --------------------------------------------------------------------

    def _label(self, repo: str, name: str) -> dict[str, Any]:
        return {
            "id": self._new_id(),
            "node_id": "LA_x",
            "name": name,
            "color": "b60205",
            "url": f"{self.url}/repos/{repo}/labels/{name}",
            "default": False,
            "description": None,
        }

    def _labels(
        self,
        repo: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        payload: dict[str, Any],
    ) -> tuple[int, Any, dict[str, str]]:
        labels = self.state.labels.setdefault(repo, {})
        if method == "GET":
            return self._page(list(labels.values()), path, query)
        if method == "POST":
            name = payload.get("name", "")
            if name.lower() in (n.lower() for n in labels):
                return 422, "Validation Failed", {}
            labels[name] = self._label(repo, name)
            return 201, labels[name], {}
        return 404, "Not Found", {}

    def _list_issues(
        self, repo: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", ["open"])[0]
        wanted_labels = [n for n in query.get("labels", [""])[0].split(",") if n]
        items = []
        for number in sorted(self.state.issues.get(repo, {}), reverse=True):
            issue = self.state.issues[repo][number]
            if state != "all" and issue["state"] != state:
                continue
            names = {label["name"] for label in issue["labels"]}
            if all(label in names for label in wanted_labels):
                items.append(issue)
        return self._page(items, path, query)

    def _create_issue(self, repo: str, payload: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not payload.get("title"):
            return 422, "Validation Failed", {}
        issues = self.state.issues.setdefault(repo, {})
        number = max(issues, default=0) + 1
        issue = self._issue(repo, number, payload["title"], payload.get("body", ""))
        known = self.state.labels.setdefault(repo, {})
        issue["labels"] = [known.get(n) or self._label(repo, n) for n in payload.get("labels", [])]
        issues[number] = issue
        return 201, issue, {}

    def _edit_issue(
        self, repo: str, issue: dict[str, Any], payload: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        for field_name in ("title", "body", "state", "state_reason"):
            if field_name in payload:
                issue[field_name] = payload[field_name]
        if "assignees" in payload:
            issue["assignees"] = [{"login": login} for login in payload["assignees"]]
        issue["closed_at"] = self._now() if issue["state"] == "closed" else None
        issue["updated_at"] = self._now()
        return 200, issue, {}

    def issues(self, repo: str) -> list[dict[str, Any]]:
        return [i for i in self.state.issues.get(repo, {}).values() if "pull_request" not in i]
