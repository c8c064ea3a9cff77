"""In-place edits of TOML files with tomlkit (imported only here): the ignore ledger in
deny.toml, under a lock, audit records appended to the trust store, and a project's
requirements widened by `triage fix`. Every line an edit
does not touch is kept byte for byte; files are replaced atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from triage.config.parse import parse_config
from triage.errors import ConfigError
from triage.models import Config


def _write_atomically(path: Path, text: str) -> None:
    """A temporary file beside `path`, renamed over it: readers see the old file or the new
    one, never half of either. The file keeps its permissions."""
    import os
    import stat
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
                out.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be written: {exc.strerror}"]) from exc


def _parse_document(path: Path, text: str) -> Any:
    import tomlkit

    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc


def append_table(path: Path, array: str, table: dict[str, Any]) -> None:
    """Append one [[array]] table to a TOML file with tomlkit, keeping everything else as it
    was, byte for byte; written to a temporary file and renamed into place."""
    import tomlkit

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    document = _parse_document(path, text)
    item = tomlkit.table()
    for key, value in table.items():
        item[key] = value
    existing = document.get(array)
    if existing is None:
        document.append(array, tomlkit.aot())
        existing = document[array]
    existing.append(item)
    _write_atomically(path, tomlkit.dumps(document))


# --- the ignore ledger, edited in place -----------------------------------------------------

LOCK_TIMEOUT_SECONDS = 30.0


@contextmanager
def ledger_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a hidden file beside deny.toml, so that two edits (or an edit and
    a reader that writes back) run one after the other and neither loses an entry. The file
    is removed by whoever holds the lock, on the way out: nothing is left in the repository.
    (A waiter that got the lock on a file already removed sees it and takes the new one.)"""
    import fcntl
    import os
    import time

    lock_path = path.with_name(f".{path.name}.lock")
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            handle = lock_path.open("a")
        except OSError as exc:
            raise ConfigError(
                str(path), [f"cannot take the edit lock {lock_path}: {exc.strerror}"]
            ) from exc
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(
                        str(path),
                        [
                            f"another triage command has held {lock_path} for "
                            f"{LOCK_TIMEOUT_SECONDS:.0f} s; try again"
                        ],
                    ) from None
                time.sleep(0.02)
                continue
            try:
                current = os.stat(lock_path).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(handle.fileno()).st_ino:
                continue  # removed by the holder before us: lock the file there now
            try:
                yield
            finally:
                lock_path.unlink(missing_ok=True)
                fcntl.flock(handle, fcntl.LOCK_UN)
            return


def _onto_original(original: str, baseline: str, edited: str) -> str:
    """Carry tomlkit's edit over to the original text line by line.

    tomlkit re-renders a few things it parsed (0.15 drops the space between a date and the `}`
    of an inline table), so its whole output is not byte-identical to the input. Comparing its
    rendering of the unedited document with its rendering of the edited one shows exactly the
    lines the edit touched; every other line is taken from the original, byte for byte."""
    import difflib

    ours, before, after = (t.splitlines(keepends=True) for t in (original, baseline, edited))
    if len(ours) != len(before):
        return edited
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, start, end, edited_start, edited_end in matcher.get_opcodes():
        lines.extend(ours[start:end] if tag == "equal" else after[edited_start:edited_end])
    return "".join(lines)


def _inline_table(entry: Mapping[str, Any]) -> Any:
    """`{ id = "…", reason = "…" }`, spaced as deny.toml examples are (tomlkit's own inline
    tables print `{id = "…"}`)."""
    import tomlkit

    fields = ", ".join(f"{key} = {tomlkit.item(value).as_string()}" for key, value in entry.items())
    table = tomlkit.parse(f"entry = {{ {fields} }}")["entry"]
    for key, value in table.value.body:
        # tomlkit keeps the space after a date as comment spacing, which inline tables do not
        # print; moved to the trailing whitespace, it is printed.
        if key is not None and value.trivia.comment_ws and not value.trivia.comment:
            value.trivia.trail = value.trivia.comment_ws + value.trivia.trail
            value.trivia.comment_ws = ""
    return table


def _edit_ignore_list(document: Any, edit: Mapping[str, Any] | int) -> None:
    import tomlkit

    advisories = document.get("advisories")
    if advisories is None:
        document["advisories"] = tomlkit.table()
        advisories = document["advisories"]
    ledger = advisories.get("ignore")
    if isinstance(edit, int):
        del ledger[edit]
    elif isinstance(ledger, tomlkit.items.AoT):
        table = tomlkit.table()
        for key, value in edit.items():
            table[key] = value
        ledger.append(table)
    else:
        if ledger is None:
            advisories["ignore"] = tomlkit.array().multiline(True)
            ledger = advisories["ignore"]
        ledger.append(_inline_table(edit))


LedgerEdit = Mapping[str, Any] | int  # an entry to append, or the index of one to remove


def edit_ignores(path: Path, decide: Callable[[Config], LedgerEdit]) -> Config:
    """Under the ledger lock: read and validate deny.toml, let `decide` choose the edit from
    what the file says now, apply it with tomlkit, validate the result, and only then write it
    (atomically). Everything else in the file is kept byte for byte. Returns what was written."""
    import tomlkit

    with ledger_lock(path):
        try:
            original = path.read_text(encoding="utf-8") if path.exists() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), [f"cannot be read: {exc}"]) from exc
        edit = decide(parse_config(original, str(path)))
        document = _parse_document(path, original)
        baseline = tomlkit.dumps(document)
        _edit_ignore_list(document, edit)
        text = _onto_original(original, baseline, tomlkit.dumps(document))
        written = parse_config(text, str(path))
        _write_atomically(path, text)
        return written


# --- a project's manifest, for `triage fix --strategy relax` ---------------------------------


def _requirement_arrays(document: Any) -> Iterator[Any]:
    """Every array of PEP 508 strings in pyproject.toml: [project] dependencies, each optional
    dependency list, each dependency group (PEP 735)."""
    project = document.get("project", {})
    if isinstance(project.get("dependencies"), list):
        yield project["dependencies"]
    for table in (project.get("optional-dependencies", {}), document.get("dependency-groups", {})):
        for value in table.values() if isinstance(table, dict) else ():
            if isinstance(value, list):
                yield value


def rewritten_requirements(
    text: str, origin: str, rewrite: Callable[[str], str | None]
) -> str | None:
    """pyproject.toml's text with each requirement string `rewrite` changes (None: keep it)
    changed, every other byte kept; None when nothing changed."""
    import tomlkit

    document = _parse_document(Path(origin), text)
    baseline = tomlkit.dumps(document)
    changed = False
    for array in _requirement_arrays(document):
        for index, item in enumerate(array):
            if isinstance(item, str) and (new := rewrite(str(item))) is not None:
                array[index] = new
                changed = True
    return _onto_original(text, baseline, tomlkit.dumps(document)) if changed else None


def write_text(path: Path, text: str) -> None:
    """A file replaced atomically (a fix's lockfile, requirements file or manifest)."""
    _write_atomically(path, text)
