"""Reading a git repository's objects: refs, merge-bases, trees and blobs. Never checks out,
never touches the working tree; only `git` plumbing commands run.

Inside `batch(repo)`, refs, trees and blobs of that repository are all read through one
`git cat-file --batch` process (a diff then runs two git processes, not seven); outside it
each read runs its own command."""

from __future__ import annotations

import contextlib
import contextvars
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from msgspec import Struct

from triage.errors import InputError

SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
GIT_TIMEOUT_SECONDS = 120


class TreeEntry(Struct, frozen=True):
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


class ObjectReader:
    """One `git cat-file --batch` process: each request a line naming an object, each answer
    its id, type and content. Bounded by GIT_TIMEOUT_SECONDS in all."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        try:
            self._process = subprocess.Popen(
                ["git", "-C", str(repo), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise InputError(f"{repo}: git failed: {exc}", hint="is git installed?") from exc
        self._watchdog = threading.Timer(GIT_TIMEOUT_SECONDS, self._process.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._watchdog.cancel()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # git already gone: nothing to flush to
                    stream.close()
        self._process.kill()
        self._process.wait()

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        """(id, type, content) of the object `name` names; None when there is none."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        with self._lock:
            try:
                stdin.write(name.encode() + b"\n")
                stdin.flush()
                header = stdout.readline()
            except OSError:
                header = b""
            if not header:
                raise self._failed()
            fields = header.split()
            if len(fields) != 3:
                return None  # "<name> missing" (or ambiguous)
            content = stdout.read(int(fields[2]) + 1)[:-1]
        return fields[0].decode(), fields[1].decode(), content

    def _failed(self) -> InputError:
        self._process.kill()
        said = (self._process.stderr.read() if self._process.stderr else b"").decode(
            errors="replace"
        )
        if "not a git repository" in said:
            return _not_a_repository(self.repo)
        return InputError(f"{self.repo}: cannot read git objects: {said.strip() or 'git stopped'}")


_batch: contextvars.ContextVar[ObjectReader | None] = contextvars.ContextVar(
    "triage_git_batch", default=None
)


@contextmanager
def batch(repo: Path) -> Iterator[None]:
    """Reads of `repo` within the block go through one `git cat-file --batch` process."""
    reader = ObjectReader(repo)
    token = _batch.set(reader)
    try:
        yield
    finally:
        _batch.reset(token)
        reader.close()


def _reader(repo: Path) -> ObjectReader | None:
    reader = _batch.get()
    return reader if reader is not None and reader.repo == repo else None


def _not_a_repository(repo: Path) -> InputError:
    return InputError(
        f"{repo}: not a git repository",
        hint="run triage diff inside the repository's checkout",
    )


def _unknown_ref(repo: Path, ref: str) -> InputError:
    return InputError(
        f"{repo}: unknown git ref {ref!r}",
        hint="fetch it first (e.g. git fetch origin main) or name an existing ref",
    )


def resolve(repo: Path, ref: str) -> str:
    """The commit a ref names, or an error that names the ref."""
    if ref.startswith("-") or any(c in ref for c in "\0\n\r") or not ref:
        raise InputError(f"{ref!r} is not a git ref", hint="name a branch, tag or commit")
    reader = _reader(repo)
    if reader is not None:
        found = reader.get(f"{ref}^{{commit}}")
        if found is None or found[1] != "commit":
            raise _unknown_ref(repo, ref)
        return found[0]
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        inside = _git(repo, "rev-parse", "--git-dir")
        if inside.returncode != 0:
            raise _not_a_repository(repo)
        raise _unknown_ref(repo, ref)
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
    reader = _reader(repo)
    if reader is not None:
        return _walk(reader, f"{commit}^{{tree}}", "", id_bytes=len(commit) // 2)
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


def _walk(reader: ObjectReader, name: str, prefix: str, *, id_bytes: int) -> list[TreeEntry]:
    """A tree object's files, its subtrees' in their place (as `ls-tree -r` lists them);
    iterative, so a hostile tree's depth cannot exhaust the stack."""
    entries: list[TreeEntry] = []
    stack = [iter(_tree_items(reader, name, prefix, id_bytes=id_bytes))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif item.mode == "040000":
            stack.append(iter(_tree_items(reader, item.blob, item.path + "/", id_bytes=id_bytes)))
        else:
            entries.append(item)
    return entries


def _tree_items(reader: ObjectReader, name: str, prefix: str, *, id_bytes: int) -> list[TreeEntry]:
    """One tree object's entries (subtrees with mode 040000), in its order."""
    found = reader.get(name)
    if found is None or found[1] != "tree":
        raise InputError(f"{reader.repo}: cannot list the tree {name}")
    data, position, items = found[2], 0, []
    while position < len(data):
        space, nul = data.find(b" ", position), data.find(b"\0", position)
        if not 0 <= space < nul or nul + 1 + id_bytes > len(data):
            raise InputError(f"{reader.repo}: the tree {name} is malformed", hint="git fsck")
        mode = data[position:space].decode().zfill(6)
        path = prefix + data[space + 1 : nul].decode(errors="surrogateescape")
        items.append(TreeEntry(path, mode, data[nul + 1 : nul + 1 + id_bytes].hex()))
        position = nul + 1 + id_bytes
    return items


def read_blobs(repo: Path, blobs: list[str]) -> dict[str, bytes]:
    """Blob contents by id, all in one `git cat-file --batch` call."""
    if not blobs:
        return {}
    reader = _reader(repo)
    if reader is not None:
        contents: dict[str, bytes] = {}
        for blob in blobs:
            found = reader.get(blob)
            if found is None:
                raise InputError(f"{repo}: git object {blob} is missing")
            contents[blob] = found[2]
        return contents
    done = _git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    if done.returncode != 0:
        raise InputError(f"{repo}: cannot read git objects: {done.stderr.decode()}")
    out = done.stdout
    contents = {}
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
