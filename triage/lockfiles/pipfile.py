"""Pipfile.lock (JSON, written by pipenv)."""

from __future__ import annotations

import json

from triage.core.matching import normalize_name
from triage.errors import LockfileError
from triage.lockfiles.pinning import array, fail
from triage.models import LockfileContents, Package, Unpinned


def read_pipfile(text: str, origin: str, shown: str) -> LockfileContents:
    hint = "regenerate it with `pipenv lock`, or pass the right file with --lockfile"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockfileError(
            f"{origin}: line {exc.lineno}, column {exc.colno}: not valid JSON, so not a "
            f"Pipfile.lock: {exc.msg}",
            hint=hint,
        ) from exc
    except (RecursionError, ValueError) as exc:  # nesting or numbers past any real lockfile's
        raise LockfileError(f"{origin}: not a Pipfile.lock: {exc}", hint=hint) from exc
    if not isinstance(document, dict) or not ({"default", "develop", "_meta"} & document.keys()):
        raise fail(origin, "(top level)", "expected the 'default' and 'develop' sections")
    packages: list[Package] = []
    unpinned: list[Unpinned] = []
    for section in ("default", "develop"):
        entries = document.get(section, {})
        if not isinstance(entries, dict):
            raise fail(origin, section, "expected a table of packages")
        for raw_name, entry in entries.items():
            where = f"{section}.{raw_name}"
            name = normalize_name(raw_name)
            version = entry.get("version") if isinstance(entry, dict) else None
            if not isinstance(version, str) or not version.startswith("=="):
                kind = next(
                    (
                        k
                        for k in ("git", "path", "file", "editable")
                        if isinstance(entry, dict) and k in entry
                    ),
                    None,
                )
                if kind is None and version is None:
                    # A registry entry always names its version: one without (a misspelt
                    # key, say) would make a vulnerable package vanish from the scan.
                    raise fail(
                        origin, f"{where}.version", "missing: a locked package names its version"
                    )
                reason = (
                    f"{kind} requirement without a pinned version"
                    if kind
                    else f"not pinned to one version ({version})"
                )
                unpinned.append(Unpinned(name, shown, where, reason))
                continue
            hashes = array(entry.get("hashes"), origin, f"{where}.hashes")
            packages.append(
                Package(
                    name=name,
                    # `===` (arbitrary equality) pins as exactly as `==`.
                    version=version.removeprefix("===").removeprefix("=="),
                    lockfile=shown,
                    location=where,
                    display_name=raw_name,
                    hashes=tuple(h for h in hashes if isinstance(h, str)),
                    markers=entry.get("markers") if isinstance(entry.get("markers"), str) else None,
                )
            )
    return LockfileContents(shown, tuple(packages), tuple(unpinned))
