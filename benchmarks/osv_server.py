"""A loopback stand-in for OSV's `/v1/query`, answering from a local advisory directory so
pip-audit and triage can be timed on the same records. Benchmarks only; never a test."""

from __future__ import annotations

import json
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


def serve(index: Index) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            name = normalize_name(query["package"]["name"])
            text = query["version"]
            version = parse_version(text)
            vulns = [
                raw
                for advisory, raw in index.get(name, [])
                if version is not None
                and not advisory.withdrawn
                and any(affects(e, text, version) for e in advisory.affected if e.package == name)
            ]
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/query"
