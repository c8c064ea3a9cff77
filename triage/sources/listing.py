"""Where advisory records come from: a directory, a git checkout, an OSV export zip (path or
URL, streamed and bounded) or the embedded snapshot; listed without parsing (cheap for a
no-op sync), each entry read and decoded when it changed."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path, PurePosixPath

from msgspec import Struct

from triage import http
from triage.core.diagnostics import Diagnostics
from triage.errors import InputError
from triage.models import Advisory
from triage.sources.records import decode_record, facts

OSV_EXPORT_URL = "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip"
SNAPSHOT_SOURCE = "embedded-snapshot"
SNAPSHOT_RESOURCE = "advisories-snapshot.json.gz"
# An OSV PyPI export expands to a few hundred MB at most; far beyond that is a zip bomb.
MAX_ZIP_EXPANDED_BYTES = 2 * 1024**3
MAX_ZIP_ENTRY_RATIO = 200
DOWNLOAD_TIMEOUT_SECONDS = 60


class Entry(Struct, frozen=True):
    """One record file of a source: a stable name, a content fingerprint and its bytes."""

    name: str
    fingerprint: str
    read: Callable[[], bytes]


class SourceListing(Struct, frozen=True):
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
    *,
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
        _download(location, target, progress, loopback_http=loopback_http)
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
    listing: SourceListing, entries: list[Entry], diagnostics: Diagnostics
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
        yield entry, decode_record(data, origin, diagnostics)


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="triage-sync-")
