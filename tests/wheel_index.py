"""A loopback package index serving generated wheels, as PyPI serves them to resolvers: each
project's PEP 691 JSON page (hashes, PEP 592 `yanked`, PEP 714 `core-metadata`), the wheels
themselves, and each wheel's metadata file beside it (PEP 658), so uv resolves against it
without building or downloading anything it does not need."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.http_stub import _Quiet, _serving


@dataclass(frozen=True)
class Release:
    """One version of a project: its requirements (PEP 508 strings), and whether its file is
    yanked (True, or the reason)."""

    name: str
    version: str
    requires: Sequence[str] = ()
    yanked: bool | str = False
    requires_python: str | None = None
    sdist_only: bool = False  # a source distribution alone: metadata only by building it


def _metadata(release: Release) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {release.name}", f"Version: {release.version}"]
    if release.requires_python:
        lines.append(f"Requires-Python: {release.requires_python}")
    lines += [f"Requires-Dist: {r}" for r in release.requires]
    return ("\n".join(lines) + "\n").encode()


def wheel_name(release: Release) -> str:
    if release.sdist_only:
        return f"{release.name.replace('-', '_')}-{release.version}.tar.gz"
    return f"{release.name.replace('-', '_')}-{release.version}-py3-none-any.whl"


def build_wheel(release: Release) -> tuple[bytes, bytes]:
    """A wheel holding one module, and its METADATA."""
    dist = f"{release.name.replace('-', '_')}-{release.version}.dist-info"
    metadata = _metadata(release)
    files = {
        f"{release.name.replace('-', '_')}/__init__.py": b"",
        f"{dist}/METADATA": metadata,
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in [*files, f"{dist}/RECORD"])
    files[f"{dist}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue(), metadata


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class WheelIndex:
    """The index's content: pages by project, files by path; `asked` lists each path asked."""

    pages: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)  # wheel filename -> sha256
    asked: list[str] = field(default_factory=list)
    slow: dict[str, float] = field(default_factory=dict)  # path -> seconds before answering

    def digest(self, name: str, version: str) -> str:
        return self.digests[wheel_name(Release(name, version))]


def index_content(
    releases: Sequence[Release], statuses: Mapping[str, str] | None = None
) -> WheelIndex:
    content = WheelIndex()
    listed: dict[str, list[dict[str, object]]] = {}
    for release in releases:
        wheel, metadata = build_wheel(release)
        filename = wheel_name(release)
        content.files[f"/files/{filename}"] = wheel
        content.files[f"/files/{filename}.metadata"] = metadata
        content.digests[filename] = sha256(wheel)
        entry: dict[str, object] = {
            "filename": filename,
            "url": f"/files/{filename}",
            "hashes": {"sha256": sha256(wheel)},
            "provenance": None,
            "yanked": release.yanked,
        }
        if not release.sdist_only:  # PEP 658/714: a wheel's metadata, served beside it
            entry["core-metadata"] = {"sha256": sha256(metadata)}
            entry["data-dist-info-metadata"] = {"sha256": sha256(metadata)}
        if release.requires_python:
            entry["requires-python"] = release.requires_python
        listed.setdefault(release.name, []).append(entry)
    for project, entries in listed.items():
        page: dict[str, object] = {
            "meta": {"api-version": "1.4"},
            "name": project,
            "files": entries,
            "versions": sorted({str(e["filename"]).split("-")[1] for e in entries}),
        }
        if project in (statuses or {}):
            page["project-status"] = {"status": (statuses or {})[project]}
        content.pages[f"/simple/{project}/"] = json.dumps(page).encode()
    return content


@contextmanager
def serve_wheels(releases: Sequence[Release]) -> Iterator[tuple[str, WheelIndex]]:
    """Yields the index's base URL (its pages under /simple/) and what it serves."""
    content = index_content(releases)

    class Handler(_Quiet):
        def do_GET(self) -> None:
            content.asked.append(self.path)
            time.sleep(content.slow.get(self.path, 0.0))
            page = content.pages.get(self.path)
            body = page if page is not None else content.files.get(self.path)
            if body is None:
                self.send_response(404)
                self._send(b"")
                return
            self.send_response(200)
            kind = "application/vnd.pypi.simple.v1+json" if page is not None else "binary/octet"
            self.send_header("Content-Type", kind)
            try:
                self._send(body)
            except (BrokenPipeError, ConnectionResetError):
                return  # a resolver that had what it needed hung up: not the index's failure

    with _serving(Handler) as url:
        yield url, content
