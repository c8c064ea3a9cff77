"""Reading a git repository's objects: refs, merge-bases, trees and blobs. Never checks out,
never touches the working tree; only `git` plumbing commands run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from triage.errors import InputError

SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
GIT_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    blob: str


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{repo}: git failed: {exc}", hint="is git installed?") from exc


def resolve(repo: Path, ref: str) -> str:
    """The commit a ref names, or an error that names the ref."""
    if ref.startswith("-") or "\0" in ref or not ref:
        raise InputError(f"{ref!r} is not a git ref", hint="name a branch, tag or commit")
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        inside = _git(repo, "rev-parse", "--git-dir")
        if inside.returncode != 0:
            raise InputError(
                f"{repo}: not a git repository",
                hint="run triage diff inside the repository's checkout",
            )
        raise InputError(
            f"{repo}: unknown git ref {ref!r}",
            hint="fetch it first (e.g. git fetch origin main) or name an existing ref",
        )
    return done.stdout.decode().strip()


def merge_base(repo: Path, base: str, head: str, *, base_ref: str, head_ref: str) -> str:
    done = _git(repo, "merge-base", base, head)
    if done.returncode == 0:
        return done.stdout.decode().strip()
    shallow = _git(repo, "rev-parse", "--is-shallow-repository").stdout.decode().strip()
    if shallow == "true":
        raise InputError(
            f"{repo}: shallow clone without the merge-base of {base_ref!r} and {head_ref!r}",
            hint="fetch full history (actions/checkout with fetch-depth: 0, or git fetch "
            "--unshallow)",
        )
    raise InputError(
        f"{repo}: {base_ref!r} and {head_ref!r} have no common ancestor",
        hint="compare branches that share history",
    )


def tree(repo: Path, commit: str) -> list[TreeEntry]:
    """Every file of a commit's tree, with its mode and blob id; submodules too (mode
    160000, the id of the commit they pin), whose own files the tree does not hold."""
    done = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    if done.returncode != 0:
        raise InputError(f"{repo}: cannot list the tree of {commit}: {done.stderr.decode()}")
    entries = []
    for record in done.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, blob = meta.decode().split()
        if kind in ("blob", "commit"):
            entries.append(TreeEntry(path.decode(errors="surrogateescape"), mode, blob))
    return entries


def read_blobs(repo: Path, blobs: list[str]) -> dict[str, bytes]:
    """Blob contents by id, all in one `git cat-file --batch` call."""
    if not blobs:
        return {}
    done = _git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    if done.returncode != 0:
        raise InputError(f"{repo}: cannot read git objects: {done.stderr.decode()}")
    out = done.stdout
    contents: dict[str, bytes] = {}
    position = 0
    for blob in blobs:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].decode().split()
        if len(header) < 3 or header[1] == "missing":
            raise InputError(f"{repo}: git object {blob} is missing")
        size = int(header[2])
        start = header_end + 1
        contents[blob] = out[start : start + size]
        position = start + size + 1
    return contents
