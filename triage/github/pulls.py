"""Fix pull requests through the Git Data API: the changed files as blobs, one tree on the
base branch's, one commit, a branch, a pull request; no checkout. A pull request is found again
by its group's hidden marker, among those the token's own account opened: the same plan is
updated in place, a newer plan opens its own and closes the one it supersedes."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from triage.github import GitHub

if TYPE_CHECKING:
    from github.PullRequest import PullRequest
    from github.Repository import Repository


class FixChange(Struct, frozen=True):
    """One pull request's content."""

    branch: str  # refs/heads/<branch>; triage's own name, never one from input
    title: str
    body: str  # carries `marker` and `plan_marker`
    marker: str  # the group's: finds the pull request again
    plan_marker: str  # the plan's: same plan, same pull request
    files: Mapping[str, bytes]  # path in the repository -> new content


class PullResult(Struct, frozen=True):
    action: str  # created, updated, unchanged
    number: int
    url: str
    superseded: tuple[int, ...]  # older fix pull requests of the group, now closed


def publish(github: GitHub, repository: str, change: FixChange) -> PullResult:
    """Open or update the group's fix pull request on the repository's default branch."""
    me = github.login()

    def attempt() -> PullResult:
        repo = github._client.get_repo(repository)
        base = repo.default_branch
        mine = [
            p
            for p in repo.get_pulls(state="open", base=base)
            if p.user.login == me and change.marker in (p.body or "")
        ]
        same = next((p for p in mine if change.plan_marker in (p.body or "")), None)
        head = repo.get_git_ref(f"heads/{base}").object.sha
        tree = _tree(repo, head, change.files)
        if same is not None:
            action = _update(repo, same, head=head, tree=tree, change=change)
            pull = same
        else:
            commit = repo.create_git_commit(change.title, tree, [repo.get_git_commit(head)])
            branch = _new_branch(repo, change.branch, commit.sha)
            pull = repo.create_pull(base=base, head=branch, title=change.title, body=change.body)
            action = "created"
        superseded = []
        for older in mine:
            if older.number != pull.number:
                older.create_issue_comment(
                    f"Superseded by #{pull.number}: a newer fix plan for the same group."
                )
                older.edit(state="closed")
                _delete_branch(repo, older.head.ref, keep=pull.head.ref)
                superseded.append(older.number)
        return PullResult(action, pull.number, pull.html_url, tuple(superseded))

    return github._call(f"open the fix pull request on {repository}", attempt)


def _tree(repo: Repository, head: str, files: Mapping[str, bytes]) -> Any:
    from github import InputGitTreeElement

    elements = []
    for path, data in sorted(files.items()):
        blob = repo.create_git_blob(base64.b64encode(data).decode(), "base64")
        elements.append(InputGitTreeElement(path, "100644", "blob", sha=blob.sha))
    return repo.create_git_tree(elements, repo.get_git_commit(head).tree)


def _update(repo: Repository, pull: PullRequest, *, head: str, tree: Any, change: FixChange) -> str:
    current = repo.get_git_commit(pull.head.sha)
    if current.tree.sha == tree.sha and pull.body == change.body:
        return "unchanged"
    if current.tree.sha != tree.sha:
        commit = repo.create_git_commit(change.title, tree, [repo.get_git_commit(head)])
        _branch_ref(repo, pull.head.ref).edit(commit.sha, force=True)
    pull.edit(title=change.title, body=change.body)
    return "updated"


def _branch_ref(repo: Repository, branch: str) -> Any:
    """The branch's ref, read: PyGithub's unread ref would be edited or deleted at the URL it
    was read from (/git/ref/...), which GitHub does not take; read, it has GitHub's own
    (/git/refs/...)."""
    from github import GithubException

    ref = repo.get_git_ref(f"heads/{branch}")
    if not ref.object.sha:  # reading it is what gives it GitHub's URL
        raise GithubException(404, {"message": f"branch {branch} names no commit"}, None)
    return ref


def _new_branch(repo: Repository, branch: str, sha: str) -> str:
    """A new branch at `sha`: `branch`, or with a suffix when that name is taken (a branch
    that exists may be anyone's: it is never moved)."""
    from github import GithubException

    for attempt in range(1, 10):
        name = branch if attempt == 1 else f"{branch}-{attempt}"
        try:
            repo.create_git_ref(f"refs/heads/{name}", sha)
        except GithubException as exc:
            if exc.status != 422:
                raise
            continue
        return name
    raise GithubException(422, {"message": f"branches {branch}-* are all taken"}, None)


def _delete_branch(repo: Repository, branch: str, *, keep: str) -> None:
    from github import GithubException

    if branch == keep or not branch.startswith("triage/fix/"):
        return  # only the branches triage made, and never the one in use
    try:
        _branch_ref(repo, branch).delete()
    except GithubException as exc:
        if exc.status not in (404, 422):
            raise
