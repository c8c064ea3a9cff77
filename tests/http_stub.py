"""A loopback HTTP server answering GET requests from a function, for PyPI-like endpoints."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Quiet(BaseHTTPRequestHandler):
    """A handler that logs nothing and ends each answer with its body."""

    def _send(self, body: bytes) -> None:
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve_get(answer: Callable[[str], tuple[int, bytes]]) -> Iterator[tuple[str, list[str]]]:
    """Yields the base URL and the list of paths asked for; `answer(path)` gives the status
    and body of each response."""
    asked: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:
            asked.append(self.path)
            status, body = answer(self.path)
            self.send_response(status)
            self._send(body)

    with _serving(Handler) as url:
        yield url, asked


# A project's files as a loopback index lists them: (filename, sha256, provenance); provenance
# None is a file the page says has none.
IndexListing = dict[str, list[tuple[str, str, bytes | None]]]


@contextmanager
def serve_index(
    projects: IndexListing,
    *,
    etags: bool = True,
    yanked: Mapping[str, bool | str] | None = None,
    statuses: Mapping[str, tuple[str, str | None]] | None = None,
) -> Iterator[tuple[str, list[tuple[str, int]]]]:
    """A package index as PyPI serves it for PEP 691 clients: each project's JSON page with
    a `provenance` URL (or null) on every file (PEP 740), an ETag, 304 to a request naming it,
    and the provenance objects themselves (without `etags`, as a mirror may: no ETag at all);
    `yanked` files by name (PEP 592: true or a reason), `statuses` by project (PEP 792).
    Yields the base URL and (path, status) asked."""
    pages: dict[str, bytes] = {}
    bodies: dict[str, bytes] = {}
    for project, files in projects.items():
        listed = []
        for filename, sha256, provenance in files:
            link = None if provenance is None else f"/integrity/{filename}/provenance"
            if provenance is not None:
                bodies[f"/integrity/{filename}/provenance"] = provenance
            entry: dict[str, object] = {
                "filename": filename,
                "hashes": {"sha256": sha256},
                "provenance": link,
            }
            if filename in (yanked or {}):
                entry["yanked"] = (yanked or {})[filename]
            listed.append(entry)
        page: dict[str, object] = {"meta": {"api-version": "1.4"}, "name": project, "files": listed}
        if project in (statuses or {}):
            status, reason = (statuses or {})[project]
            page["project-status"] = {"status": status, **({"reason": reason} if reason else {})}
        pages[f"/simple/{project}/"] = json.dumps(page).encode()
    asked: list[tuple[str, int]] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:
            body = pages.get(self.path) or bodies.get(self.path)
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if body and etags else None
            if body is None:
                asked.append((self.path, 404))
                self.send_response(404)
                body = b""
            elif etag is not None and self.headers.get("If-None-Match") == etag:
                asked.append((self.path, 304))
                self.send_response(304)
                self.end_headers()
                return
            else:
                asked.append((self.path, 200))
                self.send_response(200)
                if etag is not None:
                    self.send_header("ETag", etag)
            self._send(body)

    with _serving(Handler) as url:
        yield url, asked


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval: shutdown() waits for the loop's next look at its flag.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that accepts connections and never answers (a network dropping replies);
    yields its URL and the connections it accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def refusing_url() -> str:
    """A loopback URL nothing listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
