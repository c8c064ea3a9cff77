"""deny.toml: parse, then validate into `Config`, collecting every error with its key path.

Reading uses the standard library's tomllib (fast, strict); in-place edits of the ignore
ledger use tomlkit, under a lock, keeping every line they do not touch byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from packaging.utils import canonicalize_name

from triage.core.policy import LINT_CODES
from triage.errors import ConfigError
from triage.models import (
    AdvisoriesConfig,
    Config,
    GithubConfig,
    IgnoreRule,
    Level,
    Severity,
    TrustConfig,
)

T = TypeVar("T")

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_LEVELS = {level.value: level for level in Level}
_SEVERITIES = ("low", "medium", "high", "critical")
_TRUST_MODES = ("basic", "certified", "audit")
_SLA_KEYS = ("critical", "high", "medium", "low", "unknown")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def parse_duration(text: str) -> dt.timedelta | None:
    """ISO 8601 durations in weeks, days, hours, minutes, seconds (years and months are vague)."""
    found = _DURATION.match(text)
    if not found or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: int(v) for k, v in found.groupdict().items() if v}
    return dt.timedelta(**parts)


class _Validator:
    """Walks the parsed document; every problem is recorded with its key path, none is fatal."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, doc: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(doc, dict):
            self.problem(path, f"must be a table, found {type(doc).__name__}")
            return {}
        for key in doc:
            if key not in allowed:
                self.problem(
                    f"{path}.{key}" if path else key,
                    f"unknown key (known keys: {', '.join(allowed)})",
                )
        return doc

    def get(
        self,
        doc: dict[str, Any],
        path: str,
        key: str,
        convert: Callable[[Any], T | None],
        expected: str,
        default: T,
    ) -> T:
        if key not in doc:
            return default
        value = convert(doc[key])
        if value is None:
            self.problem(f"{path}.{key}", f"{doc[key]!r} is not {expected}")
            return default
        return value


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _level(value: Any) -> Level | None:
    return _LEVELS.get(value) if isinstance(value, str) else None


def _severity(value: Any) -> Severity | None:
    return Severity.parse(value) if value in _SEVERITIES else None


def _duration(value: Any) -> dt.timedelta | None:
    return parse_duration(value) if isinstance(value, str) else None


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+/\S*$", value):
        return value
    return None


def _ignore_rules(v: _Validator, entries: Any) -> tuple[IgnoreRule, ...]:
    path = "advisories.ignore"
    if not isinstance(entries, list):
        v.problem(path, "must be an array of ids or { id, reason, ... } tables")
        return ()
    rules = []
    for index, entry in enumerate(entries):
        here = f"{path}[{index}]"
        if isinstance(entry, str):
            rules.append(IgnoreRule(id=entry, index=index))
            continue
        table = v.table(entry, here, ("id", "package", "reason", "issue", "expires"))
        if not table:
            continue
        advisory_id = v.get(table, here, "id", _string, "an advisory id", "")
        if not advisory_id:
            v.problem(f"{here}.id", "is required")
        package = v.get(table, here, "package", _string, "a package name", "")
        rules.append(
            IgnoreRule(
                id=advisory_id,
                index=index,
                package=canonicalize_name(package) if package else None,
                reason=v.get(table, here, "reason", _string, "a string", None),
                issue=v.get(table, here, "issue", _url, "an http(s) URL", None),
                expires=v.get(table, here, "expires", _date, "a date (YYYY-MM-DD)", None),
            )
        )
    return tuple(rules)


def _advisories(v: _Validator, doc: Any) -> AdvisoriesConfig:
    path = "advisories"
    known = (
        "sources",
        "maximum-db-staleness",
        "stale-db",
        "severity-threshold",
        "unknown-severity",
        "unused-ignored-advisory",
        "ignore",
        "lints",
    )
    table = v.table(doc, path, known)
    defaults = AdvisoriesConfig()
    severity_words = "one of " + ", ".join(_SEVERITIES)
    level_words = "one of allow, warn, deny"
    return AdvisoriesConfig(
        sources=v.get(table, path, "sources", _string_list, "a list of strings", defaults.sources),
        maximum_db_staleness=v.get(
            table,
            path,
            "maximum-db-staleness",
            _duration,
            'an ISO 8601 duration such as "P7D"',
            defaults.maximum_db_staleness,
        ),
        stale_db=v.get(table, path, "stale-db", _level, level_words, defaults.stale_db),
        severity_threshold=v.get(
            table,
            path,
            "severity-threshold",
            _severity,
            severity_words,
            defaults.severity_threshold,
        ),
        unknown_severity=v.get(
            table, path, "unknown-severity", _severity, severity_words, defaults.unknown_severity
        ),
        unused_ignored_advisory=v.get(
            table,
            path,
            "unused-ignored-advisory",
            _level,
            level_words,
            defaults.unused_ignored_advisory,
        ),
        ignore=_ignore_rules(v, table["ignore"]) if "ignore" in table else (),
        lints=_lints(v, table["lints"]) if "lints" in table else {},
    )


def _lints(v: _Validator, doc: Any) -> dict[str, Level]:
    """[advisories.lints]: a level per ledger lint code, over the defaults."""
    path = "advisories.lints"
    table = v.table(doc, path, tuple(LINT_CODES))
    levels = {}
    for code in table:
        if code in LINT_CODES:
            levels[code] = v.get(table, path, code, _level, "one of allow, warn, deny", Level.WARN)
    return levels


def _trust(v: _Validator, doc: Any) -> TrustConfig:
    table = v.table(doc, "trust", ("mode", "unsigned"))
    mode_words = "one of " + ", ".join(_TRUST_MODES)
    return TrustConfig(
        mode=v.get(
            table, "trust", "mode", lambda m: m if m in _TRUST_MODES else None, mode_words, "basic"
        ),
        unsigned=v.get(table, "trust", "unsigned", _level, "one of allow, warn, deny", Level.WARN),
    )


def _sla(v: _Validator, doc: Any) -> dict[str, dt.timedelta]:
    table = v.table(doc, "sla", _SLA_KEYS)
    result = Config().sla
    for key in _SLA_KEYS:
        result[key] = v.get(table, "sla", key, _duration, "an ISO 8601 duration", result[key])
    return result


def _github(v: _Validator, doc: Any) -> GithubConfig:
    table = v.table(doc, "github", ("repository", "labels"))
    repo = v.get(
        table,
        "github",
        "repository",
        lambda r: r if isinstance(r, str) and _REPOSITORY.match(r) else None,
        'an "owner/name" repository',
        None,
    )
    labels = v.get(
        table, "github", "labels", _string_list, "a list of strings", GithubConfig().labels
    )
    return GithubConfig(repository=repo, labels=labels)


def parse_config(text: str, path: str) -> Config:
    """Parse deny.toml text; raise ConfigError listing every problem, never fall back silently."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from exc
    v = _Validator()
    v.table(doc, "", ("advisories", "trust", "sla", "github", "schedule"))
    config = Config(
        path=path,
        advisories=_advisories(v, doc.get("advisories", {})),
        trust=_trust(v, doc.get("trust", {})),
        sla=_sla(v, doc.get("sla", {})),
        github=_github(v, doc.get("github", {})),
        schedule_audit=v.get(
            v.table(doc.get("schedule", {}), "schedule", ("audit",)),
            "schedule",
            "audit",
            _string,
            "a cron expression",
            "0 9 * * *",
        ),
    )
    if v.problems:
        raise ConfigError(path, v.problems)
    return config


def load_config(path: Path, *, required: bool) -> Config:
    """Read deny.toml; an absent file means all defaults, unless the user named it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(str(path), ["file not found"]) from None
        return Config(path=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc}"]) from exc
    return parse_config(text, str(path))


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
    a reader that writes back) run one after the other and neither loses an entry."""
    import fcntl
    import time

    lock_path = path.with_name(f".{path.name}.lock")
    try:
        handle = lock_path.open("a")
    except OSError as exc:
        raise ConfigError(
            str(path), [f"cannot take the edit lock {lock_path}: {exc.strerror}"]
        ) from exc
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
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
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
