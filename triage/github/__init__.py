"""GitHub through PyGithub: the one bot comment per pull request, found by its marker, and
tracking issues.

Rate limits (primary and secondary, honouring Retry-After) are the token's one budget's
(session.py), for every request. 5xx answers and dropped connections are retried here, per
operation: every attempt starts by finding the comment or issue by its marker again, so a
retried run edits what an interrupted one created and never posts twice. The token never
appears in messages.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from msgspec import Struct

from triage.core.tracking import TrackedIssue, key_in
from triage.errors import UpstreamError
from triage.github import session

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment
    from github.Repository import Repository

DEFAULT_API_URL = "https://api.github.com"
ATTEMPTS = 3  # per whole operation (re-finding the comment or issue each time)
DEFAULT_BACKOFF_SECONDS = 0.5
LABEL_COLOR = "b60205"
# A GitHub Actions GITHUB_TOKEN may not read GET /user; its comments and issues are this bot's.
ACTIONS_BOT = "github-actions[bot]"
T = TypeVar("T")

Outcome = Literal["created", "updated", "unchanged"]


class CommentResult(Struct, frozen=True):
    outcome: Outcome
    url: str


class _RedactingStderr(logging.Handler):
    """PyGithub's retry notes, on whatever stderr is current, with the token masked."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        sys.stderr.write((text.replace(self.token, "***") if self.token else text) + "\n")


def _own_pygithub_logging(token: str) -> None:
    """PyGithub adds a handler bound to the stderr of import time; replace it with ours."""
    logger = logging.getLogger("github")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(_RedactingStderr(token))
    logger.propagate = False


class GitHub:
    """Pull-request comments and tracking issues. Every request goes through the token's
    budget (session.py): a rate limit met here, or by any other request of the token in this
    run (the organisation's readers, its Celery workers), pauses them all."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        backoff: float = DEFAULT_BACKOFF_SECONDS,
        *,
        pace: float = 1.0,
        shared: session.Budget | None = None,
    ) -> None:
        _own_pygithub_logging(token)
        self._token = token
        self._login: str | None = None
        self._api_url = api_url.rstrip("/")
        self._backoff = backoff
        self._session = session.client(
            token, self._api_url, shared or session.recorded_pauses(), pace=pace
        )
        self._client: Github = self._session.github

    @property
    def counts(self) -> session.Counts:
        return self._session.counts

    def login(self) -> str:
        """The account the token acts as: only what it wrote is ever edited, closed or deleted,
        whatever markers other comments or issues quote."""
        if self._login is None:

            def attempt() -> str:
                from github import GithubException

                try:
                    return str(self._client.get_user().login)
                except GithubException as exc:
                    if exc.status == 403:  # an installation token (Actions) has no user
                        return ACTIONS_BOT
                    raise

            self._login = self._call("read the token's account", attempt)
        return self._login

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """Run `action`, retrying transient failures after PyGithub's own retries gave up."""
        from github import GithubException
        from requests import RequestException

        last = ""
        for attempt in range(ATTEMPTS):
            try:
                return action()
            except GithubException as exc:
                status = exc.status
                message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
                last = f"{status} {message}"
                # Rate limits were the session's; what is left to retry is GitHub failing.
                if status < 500:
                    raise UpstreamError(
                        self._redact(f"GitHub refused to {what}: {last}"),
                        hint="check the token's permissions, the repository and the number",
                    ) from None
                session.pause(self._backoff * 2**attempt)
            except RequestException as exc:
                last = type(exc).__name__
                session.pause(self._backoff * 2**attempt)
        raise UpstreamError(
            self._redact(
                f"GitHub did not answer while trying to {what} ({last}) after {ATTEMPTS} attempts"
            ),
            hint="GitHub may be down; the run can be repeated safely",
        )

    def upsert_comment(
        self, repository: str, number: int, marker: str, *, body: str
    ) -> CommentResult:
        """Create the one comment carrying `marker`, or edit it in place; leave it untouched
        when the body is already right. Extra copies (from an older, interrupted run) go."""

        me = self.login()

        def attempt() -> CommentResult:
            issue = self._client.get_repo(repository).get_issue(number)
            mine: list[IssueComment] = [
                c for c in issue.get_comments() if marker in c.body and c.user.login == me
            ]
            if not mine:
                created = issue.create_comment(body)
                return CommentResult("created", created.html_url)
            keep, extras = mine[0], mine[1:]
            for extra in extras:
                extra.delete()
            if keep.body == body:
                return CommentResult("unchanged", keep.html_url)
            keep.edit(body)
            return CommentResult("updated", keep.html_url)

        return self._call(f"comment on {repository}#{number}", attempt)


_ISSUE_URL = re.compile(r"^https?://[^/\s]+/(?:[^\s]*/)?([^/\s]+/[^/\s]+)/issues/(\d+)/?$")


def issue_reference(url: str) -> tuple[str, int] | None:
    """(owner/name, number) of a GitHub (or GitHub Enterprise) issue URL; None for others."""
    found = _ISSUE_URL.match(url)
    return (found.group(1), int(found.group(2))) if found else None


def issue_state(github: GitHub, repository: str, number: int) -> str | None:
    """`open` or `closed`; None when GitHub has no such issue (or will not show it)."""
    from github import UnknownObjectException

    def attempt() -> str | None:
        try:
            return str(github._client.get_repo(repository).get_issue(number).state)
        except UnknownObjectException:
            return None

    return github._call(f"read {repository}#{number}", attempt)


class GitHubTracker:
    """Tracking issues on GitHub, found by their key marker in one paginated listing (narrowed
    to the first configured label, which every tracking issue carries)."""

    def __init__(self, github: GitHub, repository: str, labels: Sequence[str]) -> None:
        self._github = github
        self._repository = repository
        self._labels = list(labels)

    def _repo(self) -> Repository:
        return self._github._client.get_repo(self._repository)

    def _list(self) -> dict[str, TrackedIssue]:
        filters: dict[str, Any] = {"state": "all"}
        if self._labels:
            filters["labels"] = self._labels[:1]
        me = self._github.login()
        found: dict[str, TrackedIssue] = {}
        for issue in self._repo().get_issues(**filters):
            # Only attributes the listing carries are read: touching an absent one (such as
            # `pull_request` on a plain issue) makes PyGithub fetch the issue again. An issue
            # someone else wrote is never ours, whatever marker it quotes.
            is_pull_request = "/pull/" in issue.html_url
            key = key_in(issue.body or "")
            if not is_pull_request and key and key not in found and issue.user.login == me:
                found[key] = TrackedIssue(
                    issue.number, key, issue.state == "open", issue.html_url, issue.body or ""
                )
        return found

    def tracked_issues(self) -> dict[str, TrackedIssue]:
        return self._github._call(f"list the tracking issues of {self._repository}", self._list)

    def ensure_labels(self, labels: Sequence[str]) -> None:
        def attempt() -> None:
            repo = self._repo()
            existing = {label.name.lower() for label in repo.get_labels()}
            for name in labels:
                if name.lower() not in existing:
                    repo.create_label(name, LABEL_COLOR)

        self._github._call(f"create labels in {self._repository}", attempt)

    def open_issue(self, key: str, title: str, body: str, *, labels: Sequence[str]) -> TrackedIssue:
        tries = 0

        def attempt() -> TrackedIssue:
            nonlocal tries
            tries += 1
            if tries > 1:
                # An earlier try may have created it before the connection failed.
                existing = self._list().get(key)
                if existing is not None:
                    return existing
            issue = self._repo().create_issue(title=title, body=body, labels=list(labels))
            return TrackedIssue(issue.number, key, True, issue.html_url, body)

        return self._github._call(f"open the tracking issue for {key}", attempt)

    def comment(self, number: int, text: str) -> None:
        self._github._call(
            f"comment on #{number}", lambda: self._repo().get_issue(number).create_comment(text)
        )

    def edit_body(self, number: int, body: str) -> None:
        self._github._call(
            f"update #{number}", lambda: self._repo().get_issue(number).edit(body=body)
        )

    def close(self, number: int, comment: str) -> None:
        self.comment(number, comment)
        self._github._call(
            f"close #{number}",
            lambda: self._repo().get_issue(number).edit(state="closed", state_reason="completed"),
        )

    def reopen(self, number: int, comment: str) -> None:
        self._github._call(
            f"reopen #{number}", lambda: self._repo().get_issue(number).edit(state="open")
        )
        self.comment(number, comment)

    def assign(self, number: int, login: str) -> bool:
        """Assign the issue to `login` when GitHub knows it as an assignee of the repository
        (GitHub silently drops anyone else); False when it does not. The token is checked
        first: the assignee check answers 'no' to a refused token too."""
        self._github.login()

        def attempt() -> bool:
            repo = self._repo()
            if not repo.has_in_assignees(login):
                return False
            repo.get_issue(number).add_to_assignees(login)
            return True

        return self._github._call(f"assign #{number} to {login}", attempt)
