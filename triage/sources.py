"""Advisory sources: OSV `.json` / PyPA `.yaml` records from a directory, a git checkout, an OSV
export zip (path or URL) or the embedded snapshot, validated into `Advisory` facts.

Every record is checked where matching depends on it; a broken one raises an error naming the
file and the key path, so the caller can abandon the whole sync.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from triage import http
from triage.core.matching import ZERO, normalize_name, parse_version
from triage.errors import AdvisoryRecordError, InputError
from triage.models import (
    EVENT_KINDS,
    Advisory,
    Affected,
    Event,
    Severity,
    VersionRange,
)

OSV_EXPORT_URL = "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip"
SNAPSHOT_SOURCE = "embedded-snapshot"
SNAPSHOT_RESOURCE = "advisories-snapshot.json.gz"
# An OSV PyPI export expands to a few hundred MB at most; far beyond that is a zip bomb.
MAX_ZIP_EXPANDED_BYTES = 2 * 1024**3
MAX_ZIP_ENTRY_RATIO = 200
DOWNLOAD_TIMEOUT_SECONDS = 60


if TYPE_CHECKING:
    import yaml


@cache
def _string_scalar_loader() -> type[yaml.CSafeLoader]:
    """YAML with every scalar kept as text but for booleans and nulls: versions like 1.10 and
    timestamps must not turn into floats or datetimes. Built when a record is first decoded:
    a sync that finds nothing changed never loads YAML."""
    import yaml

    class StringScalarLoader(yaml.CSafeLoader):
        pass

    StringScalarLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag.endswith((":bool", ":null"))]
        for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }
    return StringScalarLoader


# --- records --------------------------------------------------------------------------------


def _fail(origin: str, path: str, message: str) -> AdvisoryRecordError:
    return AdvisoryRecordError(
        f"{origin}: {path}: {message}",
        hint="correct or remove this record and sync again; the database was not changed",
    )


def _require_str(value: Any, origin: str, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(origin, path, f"expected a non-empty string, found {value!r}")
    return value


def _str_list(value: Any, origin: str, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(origin, path, "expected a list of strings")
    return tuple(value)


_CVSS_WORDS = {
    "none": Severity.NONE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def _severity(raw: dict[str, Any], origin: str) -> tuple[Severity, str | None]:
    """The worst qualitative rating among CVSS vectors; GHSA's word when no vector is given."""
    from cvss import CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    best: tuple[Severity, str | None] = (Severity.UNKNOWN, None)
    for index, entry in enumerate(raw.get("severity") or []):
        if not isinstance(entry, dict):
            raise _fail(origin, f"severity[{index}]", "expected a table with type and score")
        kind, score = entry.get("type"), entry.get("score")
        calculator = {"CVSS_V3": CVSS3, "CVSS_V4": CVSS4}.get(str(kind))
        if calculator is None or not isinstance(score, str):
            continue
        try:
            rating = calculator(score).severities()[0]
        except CVSSError as exc:
            raise _fail(
                origin, f"severity[{index}].score", f"not a valid {kind} vector: {exc}"
            ) from exc
        level = _CVSS_WORDS.get(rating.lower(), Severity.UNKNOWN)
        if level.value > best[0].value:
            best = (level, score)
    if best[0] is Severity.UNKNOWN:
        specific = raw.get("database_specific")
        word = specific.get("severity") if isinstance(specific, dict) else None
        if isinstance(word, str) and word.lower() in _CVSS_WORDS:
            best = (_CVSS_WORDS[word.lower()], None)
    return best


def _range(raw: Any, origin: str, path: str, warnings: list[str]) -> VersionRange:
    events_raw = raw.get("events")
    if not isinstance(events_raw, list) or not events_raw:
        raise _fail(origin, f"{path}.events", "an ECOSYSTEM range needs a list of events")
    events = []
    for index, event in enumerate(events_raw):
        here = f"{path}.events[{index}]"
        if not isinstance(event, dict) or len(event) != 1:
            raise _fail(
                origin, here, "each event must have exactly one of " + ", ".join(EVENT_KINDS)
            )
        ((kind, version),) = event.items()
        if kind not in EVENT_KINDS:
            raise _fail(origin, here, f"unknown event {kind!r}")
        version = _require_str(version, origin, f"{here}.{kind}")
        if not (kind == "introduced" and version == ZERO) and parse_version(version) is None:
            # Published records carry a few of these (binderhub's "0.2.0-n653", steam's
            # "2019-09-12"): keep the record, warn, and let matching skip the one event.
            warnings.append(
                f"{origin}: {here}.{kind}: {version!r} is not a PEP 440 version; "
                "this event is ignored when matching"
            )
        events.append(Event(kind, version))
    if not any(e.kind == "introduced" for e in events):
        raise _fail(origin, f"{path}.events", "an ECOSYSTEM range needs an 'introduced' event")
    return VersionRange(tuple(events))


def _affected(raw: Any, origin: str, path: str, warnings: list[str]) -> Affected | None:
    if not isinstance(raw, dict):
        raise _fail(origin, path, "expected a table")
    package = raw.get("package")
    if not isinstance(package, dict):
        raise _fail(origin, f"{path}.package", "expected a table with ecosystem and name")
    if package.get("ecosystem") != "PyPI":
        return None
    name = _require_str(package.get("name"), origin, f"{path}.package.name")
    ranges = []
    for index, vrange in enumerate(raw.get("ranges") or []):
        here = f"{path}.ranges[{index}]"
        if not isinstance(vrange, dict):
            raise _fail(origin, here, "expected a table")
        if vrange.get("type") == "ECOSYSTEM":
            ranges.append(_range(vrange, origin, here, warnings))
    versions = _str_list(raw.get("versions"), origin, f"{path}.versions")
    return Affected(normalize_name(name), tuple(ranges), versions)


_ADVISORY_ID = re.compile(r"[A-Za-z0-9._:-]+")


def _advisory_id(value: Any, origin: str, path: str) -> str:
    """An id goes into markers, keys, comments and shell lines: only [A-Za-z0-9._:-]+ is
    accepted (SPEC §9), so a poisoned source cannot forge a marker or another finding's key."""
    text = _require_str(value, origin, path)
    if not _ADVISORY_ID.fullmatch(text):
        raise _fail(origin, path, f"{text!r} is not an advisory id (letters, digits, . _ : -)")
    return text


def _aliases(value: Any, origin: str, warnings: list[str]) -> tuple[str, ...]:
    """Aliases that are ids; one that is not (real data has `GHSA-jf66-3q76-h5p5,` with its
    list's comma) is left out with a warning: it names no record, and could otherwise become
    the id a finding's key and markers are made of."""
    kept = []
    for index, alias in enumerate(_str_list(value, origin, "aliases")):
        if _ADVISORY_ID.fullmatch(alias):
            kept.append(alias)
        else:
            warnings.append(
                f"{origin}: aliases[{index}]: {alias!r} is not an advisory id; it is left out"
            )
    return tuple(kept)


def parse_record(raw: Any, origin: str, warnings: list[str] | None = None) -> Advisory:
    """Validate one OSV record (or a snapshot entry, which is a subset of one). Problems that
    matching can live with are appended to `warnings`; the rest raise."""
    warnings = [] if warnings is None else warnings
    if not isinstance(raw, dict):
        raise _fail(origin, "(top level)", "an OSV record must be a table")
    advisory_id = _advisory_id(raw.get("id"), origin, "id")
    modified = _require_str(raw.get("modified"), origin, "modified")
    affected_raw = raw.get("affected") or []
    if not isinstance(affected_raw, list):
        raise _fail(origin, "affected", "expected a list")
    affected = tuple(
        entry
        for index, item in enumerate(affected_raw)
        if (entry := _affected(item, origin, f"affected[{index}]", warnings)) is not None
    )
    severity, vector = _severity(raw, origin)
    references = []
    for ref in raw.get("references") or []:
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            references.append(ref["url"])
    return Advisory(
        id=advisory_id,
        modified=modified,
        published=raw.get("published") if isinstance(raw.get("published"), str) else None,
        withdrawn=raw.get("withdrawn") if isinstance(raw.get("withdrawn"), str) else None,
        aliases=_aliases(raw.get("aliases"), origin, warnings),
        affected=affected,
        severity=severity,
        severity_vector=vector,
        references=tuple(dict.fromkeys(references)),
        summary=_summary(raw),
    )


SUMMARY_LIMIT = 200


def _summary(raw: dict[str, Any]) -> str | None:
    """OSV's one-line summary; PyPA's records rarely have one, so else the first line of the
    details, cut at SUMMARY_LIMIT characters."""
    for key in ("summary", "details"):
        text = raw.get(key)
        if isinstance(text, str) and text.strip():
            line = " ".join(text.strip().splitlines()[0].split())
            return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"
    return None


def facts(advisory: Advisory) -> dict[str, Any]:
    """The OSV-shaped subset kept in the snapshot: ids, dates, ranges, severity, reference URLs
    and the one-line summary."""
    record: dict[str, Any] = {
        "id": advisory.id,
        "modified": advisory.modified,
        "aliases": list(advisory.aliases),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": a.package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{e.kind: e.version} for e in r.events]}
                    for r in a.ranges
                ],
                "versions": list(a.versions),
            }
            for a in advisory.affected
        ],
        "references": [{"url": url} for url in advisory.references],
    }
    if advisory.summary:
        record["summary"] = advisory.summary
    if advisory.published:
        record["published"] = advisory.published
    if advisory.withdrawn:
        record["withdrawn"] = advisory.withdrawn
    if advisory.severity_vector:
        kind = "CVSS_V4" if advisory.severity_vector.startswith("CVSS:4") else "CVSS_V3"
        record["severity"] = [{"type": kind, "score": advisory.severity_vector}]
    elif advisory.severity is not Severity.UNKNOWN:
        record["database_specific"] = {"severity": advisory.severity.label}
    return record


def record_digest(advisory: Advisory) -> str:
    canonical = json.dumps(facts(advisory), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def decode_record(data: bytes, origin: str, warnings: list[str] | None = None) -> Advisory:
    """Decode `.json` or `.yaml` bytes by the entry's suffix."""
    import yaml

    try:
        if origin.endswith((".yaml", ".yml")):
            raw = yaml.load(data, Loader=_string_scalar_loader())
        else:
            raw = json.loads(data)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # nesting past any record's
        raise _fail(
            origin, "(file)", f"not valid {'YAML' if origin.endswith('ml') else 'JSON'}: {exc}"
        ) from exc
    return parse_record(raw, origin, warnings)


# --- source entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One record file of a source: a stable name, a content fingerprint and its bytes."""

    name: str
    fingerprint: str
    read: Callable[[], bytes]


@dataclass(frozen=True)
class SourceListing:
    source: str  # as the user wrote it
    kind: str  # directory | git | zip | url | snapshot
    revision: str | None
    entries: list[Entry]


def _is_record_name(name: str) -> bool:
    return name.endswith((".json", ".yaml", ".yml"))


def _record_files(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(relative name, directory entry) of each record file under `root`, in name order;
    hidden folders and links to folders are not entered (as os.walk does). Plain strings and
    directory entries: pathlib's objects cost more than the walk for thousands of files."""

    def walk(folder: str, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            if entry.is_dir():
                if not entry.name.startswith(".") and not entry.is_symlink():
                    yield from walk(entry.path, f"{prefix}{entry.name}/")
            elif _is_record_name(entry.name):
                yield f"{prefix}{entry.name}", entry

    yield from walk(str(root), "")


# A file changed this close to the fingerprint's making may change again within the same
# tick of the file system's clock and keep its time: such a fingerprint is not kept.
RACY_SECONDS = 2.0


def fingerprint(source: str) -> str | None:
    """A local source as the file system describes it (each record file's name, size, inode,
    modification and change times), read without opening one: an equal fingerprint means a
    sync would find nothing changed (a change time cannot be set back). None for a download
    (known only once fetched) and when a file changed within RACY_SECONDS."""
    location = resolve_source(source)
    if "://" in location:
        return None
    path = Path(location)
    try:
        if path.is_dir():
            files = [(name, entry.stat()) for name, entry in _record_files(path)]
        elif path.is_file():
            files = [(path.name, path.stat())]
        else:
            return None
    except OSError:
        return None  # the listing says what it cannot read
    now = time.time()
    digest = hashlib.sha256(f"{path.resolve()}\n".encode())
    for name, info in files:
        if now - max(info.st_mtime, info.st_ctime) < RACY_SECONDS:
            return None
        digest.update(
            f"{name}\0{info.st_size}\0{info.st_ino}\0{info.st_mtime_ns}\0{info.st_ctime_ns}\n".encode()
        )
    return "stat-sha256:" + digest.hexdigest()


def _directory_entries(root: Path) -> list[Entry]:
    entries = []
    for name, entry in _record_files(root):
        with open(entry.path, "rb") as handle:
            data = handle.read()
        entries.append(
            Entry(
                name=name,
                fingerprint=hashlib.sha256(data).hexdigest(),
                read=lambda data=data: data,  # type: ignore[misc]
            )
        )
    return entries


def _git_revision(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _zip_entries(path: Path, label: str) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"{label}: not a readable zip archive: {exc}",
            hint="point --source at an OSV export such as PyPI/all.zip",
        ) from exc
    total = 0
    entries = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
            raise InputError(
                f"{label}: entry {info.filename!r} escapes the archive; nothing was imported",
                hint="use an untampered OSV export",
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > MAX_ZIP_EXPANDED_BYTES or ratio > MAX_ZIP_ENTRY_RATIO:
            raise InputError(
                f"{label}: expands past the safety limit at entry {info.filename!r} "
                f"({total} bytes, ratio {ratio:.0f}:1); nothing was imported",
                hint="use an untampered OSV export",
            )
        if not _is_record_name(info.filename):
            continue
        entries.append(
            Entry(
                name=info.filename,
                fingerprint=f"crc32:{info.CRC:08x}:{info.file_size}",
                read=lambda info=info: archive.read(info),  # type: ignore[misc]
            )
        )
    return entries


def _download(
    url: str,
    into: Path,
    progress: Callable[[int, int | None], None] | None,
    loopback_http: bool,
) -> None:
    """Stream a URL to a file in chunks; network failures are upstream errors (exit 4)."""
    try:
        with into.open("wb") as out:
            http.download(
                url,
                out,
                max_bytes=MAX_ZIP_EXPANDED_BYTES,
                progress=progress,
                timeout=DOWNLOAD_TIMEOUT_SECONDS,
                hint="check the network, or sync from a local copy with --source PATH",
                loopback_http=loopback_http,
            )
    except OSError as exc:
        raise InputError(f"{into}: cannot write the download: {exc.strerror}") from exc


def resolve_source(source: str) -> str:
    if source.startswith("osv:"):
        return OSV_EXPORT_URL.format(ecosystem=source.removeprefix("osv:"))
    return source


def list_source(
    source: str,
    workdir: Path,
    progress: Callable[[int, int | None], None] | None = None,
    *,
    loopback_http: bool = False,
) -> SourceListing:
    """Enumerate a source's record entries without parsing them (cheap for a no-op sync).
    Anything with a scheme is a URL, fetched by https only (see http.check_url): never read
    as a path."""
    location = resolve_source(source)
    if "://" in location:
        target = workdir / "download.zip"
        _download(location, target, progress, loopback_http)
        return SourceListing(source, "url", None, _zip_entries(target, location))
    path = Path(location)
    if path.is_dir():
        if (path / ".git").exists():
            return SourceListing(source, "git", _git_revision(path), _directory_entries(path))
        return SourceListing(source, "directory", None, _directory_entries(path))
    if path.is_file():
        return SourceListing(source, "zip", None, _zip_entries(path, str(path)))
    raise InputError(
        f"{source}: no such advisory source",
        hint="give a directory of OSV records, an OSV export zip (path or URL), or osv:PyPI",
    )


def snapshot_listing() -> SourceListing:
    data = resources.files("triage").joinpath("data", SNAPSHOT_RESOURCE).read_bytes()
    records = json.loads(gzip.decompress(data))
    entries = []
    for record in records:
        encoded = json.dumps(record, sort_keys=True).encode()
        entries.append(
            Entry(
                name=f"{record['id']}.json",
                fingerprint=hashlib.sha256(encoded).hexdigest(),
                read=lambda encoded=encoded: encoded,  # type: ignore[misc]
            )
        )
    return SourceListing(SNAPSHOT_SOURCE, "snapshot", hashlib.sha256(data).hexdigest(), entries)


def write_snapshot(advisories: list[Advisory], target: Path) -> None:
    records = [facts(a) for a in sorted(advisories, key=lambda a: a.id)]
    payload = json.dumps(records, sort_keys=True, separators=(",", ":")).encode()
    target.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))


def iter_decoded(
    listing: SourceListing, entries: list[Entry], warnings: list[str]
) -> Iterator[tuple[Entry, Advisory]]:
    """Decode entries, naming each by its source so an error points at the file."""
    for entry in entries:
        origin = f"{listing.source}/{entry.name}"
        try:
            data = entry.read()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:  # e.g. a bad CRC-32
            raise InputError(
                f"{origin}: cannot be read: {exc}; nothing was imported",
                hint="download the export again, or sync from another copy",
            ) from exc
        yield entry, decode_record(data, origin, warnings)


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="triage-sync-")
