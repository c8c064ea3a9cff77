"""`triage sbom`: the working tree's locked packages and findings as CycloneDX, the findings'
VEX analysis from the ledger and the triage state."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from triage import sbom, store
from triage.models import Format, IndexNote
from triage.service import licenses
from triage.service.scan import lockfile_path, scan_project
from triage.service.workspace import Workspace


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _index(
    notes: Sequence[IndexNote],
) -> dict[tuple[str, str], list[tuple[str, str, str | None]]]:
    found: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
    for note in notes:
        found.setdefault((note.package, note.version), []).append(
            (note.kind, note.detail, note.reason)
        )
    return found


def cyclonedx(
    ws: Workspace, *, vex_only: bool = False, serialised: Format = Format.CYCLONEDX
) -> str:
    result, project = scan_project(ws)
    with ws.database() as db:
        states = {
            str(r.key): (r.state, r.assignee)
            for r in store.TriageStore(db).records()
            if r.key.repository is None
        }
    lockfiles = [
        (
            read.path,
            _sha256(lockfile_path(ws, read.path)),
        )
        for read in project.read
    ]
    releases = sorted({(p.name, p.version) for p in project.packages})
    given = sbom.SbomInput(
        project=ws.root.resolve().name or "project",
        packages=project.packages,
        findings=result.findings,
        states=states,
        lockfiles=lockfiles,
        database_digest=result.database.digest,
        moment=ws.now(),
        licenses=licenses.expressions(ws, releases),
        index=_index(result.index_notes),
    )
    return sbom.cyclonedx(given, serialised, vex_only=vex_only)
