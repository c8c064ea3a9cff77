"""A loopback stand-in for OSV's API, answering from a local advisory directory so pip-audit,
`uv audit` and triage can be timed on the same records. Benchmarks only; never a test.

Implements `POST /v1/query` (pip-audit), `POST /v1/querybatch` and `GET /v1/vulns/{id}`
(uv audit), as api.osv.dev documents them, and `GET /simple/{name}/` (PEP 691 JSON, every
project active) for the PEP 792 status check uv audit makes against its index."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from triage import sources
from triage.core.matching import affects, normalize_name, parse_version
from triage.models import Advisory

Index = dict[str, list[tuple[Advisory, dict[str, Any]]]]


def load_index(directory: Path) -> Index:
    """Records by package, each as parsed facts (for matching) and as the raw OSV document."""
    index: Index = {}
    import yaml

    for path in sorted(directory.rglob("*.yaml")):
        raw = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        # Timestamps as text in the form OSV's API sends them.
        raw = json.loads(json.dumps(raw, default=lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")))
        advisory = sources.parse_record(raw, str(path))
        for entry in advisory.affected:
            index.setdefault(entry.package, []).append((advisory, raw))
    return index


def _affecting(index: Index, name: str, text: str) -> list[dict[str, Any]]:
    name = normalize_name(name)
    version = parse_version(text)
    return [
        raw
        for advisory, raw in index.get(name, [])
        if version is not None
        and not advisory.withdrawn
        and any(affects(e, text, version) for e in advisory.affected if e.package == name)
    ]


def serve(index: Index) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in; returns the server and its `/v1/query` URL."""
    by_id = {raw["id"]: raw for records in index.values() for _, raw in records}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Kept-alive connections otherwise wait ~40 ms per answer (Nagle + delayed ACK).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, document: Any, content_type: str = "application/json") -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if content_type != "application/json":
                # PyPI lets simple pages be cached for ten minutes.
                self.send_header("Cache-Control", "max-age=600, public")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.endswith("/v1/querybatch"):
                results = []
                for item in query["queries"]:
                    vulns = _affecting(index, item["package"]["name"], item["version"])
                    results.append(
                        {"vulns": [{"id": v["id"], "modified": v["modified"]} for v in vulns]}
                        if vulns
                        else {}
                    )
                self._send(200, {"results": results})
                return
            vulns = _affecting(index, query["package"]["name"], query["version"])
            self._send(200, {"vulns": vulns} if vulns else {})

        def do_GET(self) -> None:
            if self.path.startswith("/simple/"):
                # uv audit asks the index for each project's PEP 792 status: an active one.
                name = self.path.strip("/").split("/")[-1]
                self._send(
                    200,
                    {
                        "meta": {"api-version": "1.4"},
                        "name": name,
                        "files": [],
                        "project-status": {"status": "active"},
                    },
                    "application/vnd.pypi.simple.v1+json",
                )
                return
            record = by_id.get(self.path.rsplit("/", 1)[-1])
            if record is None:
                self._send(404, {"code": 5, "message": "Bug not found."})
            else:
                self._send(200, record)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/query"
