"""The trust store's files: publishers.toml (who may publish what), audits.toml (signed
audit records) and imports.toml (external audit files pinned by sha256)."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from triage import http
from triage.errors import InputError
from triage.models import AuditRecord, Identity, PublisherRule
from triage.provenance.signing import load_public_keys, record_signature_problem

MAX_IMPORT_BYTES = 64 * 1024 * 1024
_KINDS = ("github", "gitlab", "google")


def load_publishers(path: Path) -> tuple[PublisherRule, ...]:
    """`[[publisher]]` tables: kind, repository (or email for google), workflow, environment,
    packages. Every problem is reported with its key path; an absent file lists nobody."""
    if not path.is_file():
        return ()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(
            f"{path}: not valid TOML: {exc}", hint="see the trust-store layout in README.md"
        ) from exc
    problems: list[str] = []
    unknown = set(document) - {"publisher"}
    problems += [f"{key}: unknown key (expected [[publisher]] tables)" for key in sorted(unknown)]
    entries = document.get("publisher", [])
    if not isinstance(entries, list):
        problems.append("publisher: expected [[publisher]] tables")
        entries = []
    rules = []
    allowed = {"kind", "repository", "email", "workflow", "environment", "packages"}
    for index, entry in enumerate(entries):
        here = f"publisher[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{here}: expected a table")
            continue
        problems += [f"{here}.{key}: unknown key" for key in sorted(set(entry) - allowed)]
        kind = entry.get("kind")
        if kind not in _KINDS:
            problems.append(f"{here}.kind: {kind!r} is not one of {', '.join(_KINDS)}")
            continue
        who_key = "email" if kind == "google" else "repository"
        who = entry.get(who_key)
        workflow = entry.get("workflow", "")
        if not isinstance(who, str) or not who:
            problems.append(f"{here}.{who_key}: required for kind {kind!r}")
            continue
        if kind != "google" and (not isinstance(workflow, str) or not workflow):
            problems.append(f"{here}.workflow: required for kind {kind!r}")
            continue
        packages = entry.get("packages", [])
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            problems.append(f"{here}.packages: expected a list of package names")
            continue
        environment = entry.get("environment")
        rules.append(
            PublisherRule(
                Identity(
                    kind,
                    who,
                    workflow if kind != "google" else "",
                    environment if isinstance(environment, str) else None,
                ),
                tuple(canonicalize_name(p) for p in packages),
            )
        )
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise InputError(
            f"{path}: {len(problems)} problem(s):\n{listing}",
            hint="see the trust-store layout in README.md",
        )
    return tuple(rules)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(
            f"{path}: not valid TOML: {exc}", hint="see the trust-store layout in README.md"
        ) from exc


def _records(
    entries: Any, path: Path, source: str, keys: Mapping[str, Any] | None
) -> list[AuditRecord]:
    """Audit records of one file; with `keys`, each must carry a valid signature."""
    if not isinstance(entries, list):
        raise InputError(f"{path}: audit: expected [[audit]] tables")
    records = []
    for index, entry in enumerate(entries):
        here = f"{path}: audit[{index}]"
        missing = [
            k
            for k in ("package", "version", "criteria", "who")
            if not isinstance(entry.get(k), str)
        ]
        if missing:
            raise InputError(
                f"{here}: missing {', '.join(missing)}",
                hint="write records with `triage trust certify`",
            )
        problem = None
        if keys is not None:
            key = keys.get(str(entry.get("key", "")))
            signature = entry.get("signature", "")
            if key is None:
                problem = f"signed by {entry.get('key') or 'no key'}, which trust-store/keys/ lacks"
            else:
                problem = record_signature_problem(key, str(signature), entry)
        records.append(
            AuditRecord(
                package=canonicalize_name(entry["package"]),
                version=entry["version"],
                criteria=entry["criteria"],
                who=entry["who"],
                source=source,
                from_version=entry.get("from") if isinstance(entry.get("from"), str) else None,
                problem=problem,
                digests=tuple(str(d) for d in entry.get("sha256", []) if isinstance(d, str)),
            )
        )
    return records


FetchImport = Callable[[str, str], bytes]  # (url, pinned sha256) -> the file's bytes


def load_audits(store: Path, fetch_import: FetchImport | None = None) -> list[AuditRecord]:
    """Own records (signatures checked against keys/) and imported files, by path inside the
    trust store or by URL, each trusted only while it hashes to its pinned sha256."""
    records: list[AuditRecord] = []
    own = store / "audits.toml"
    if own.is_file():
        records += _records(
            _read_toml(own).get("audit", []),
            own,
            "trust-store/audits.toml",
            load_public_keys(store / "keys"),
        )
    imports = store / "imports.toml"
    if not imports.is_file():
        return records
    for index, entry in enumerate(_read_toml(imports).get("import", [])):
        here = f"{imports}: import[{index}]"
        name, pin = entry.get("name"), entry.get("sha256")
        target, url = entry.get("path"), entry.get("url")
        if (
            not isinstance(name, str)
            or not isinstance(pin, str)
            or not isinstance(target or url, str)
        ):
            raise InputError(
                f"{here}: needs name, sha256, and path or url",
                hint="see the trust-store layout in README.md",
            )
        if isinstance(url, str):
            if fetch_import is None:
                raise InputError(f"{here}: {url}: imports by URL need the database cache")
            data, shown = fetch_import(url, pin), url
        else:
            path = (store / str(target)).resolve()
            if not path.is_relative_to(store.resolve()) or not path.is_file():
                raise InputError(f"{here}: {target}: no such file inside the trust store")
            data, shown = path.read_bytes(), str(target)
        if hashlib.sha256(data).hexdigest() != pin:
            # The digest of what was read is not echoed: a message must tell nothing of
            # content that is not the trust store's own.
            raise InputError(
                f"{here}: {shown} no longer matches its pinned sha256 "
                f"(pinned {pin[:16]}…); refusing the import",
                hint="review the new file, then pin its sha256 in imports.toml",
            )
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InputError(f"{here}: {shown}: not valid TOML: {exc}") from exc
        records += _records(document.get("audit", []), Path(shown), f"import {name}", None)
    return records


def download(url: str, *, loopback_http: bool = False) -> bytes:
    """An imported audit file by URL (cached by its pin once fetched); https only."""
    body = http.get(
        url,
        max_bytes=MAX_IMPORT_BYTES,
        hint="the import is cached once fetched; fetch it while online",
        loopback_http=loopback_http,
    )
    assert body is not None  # only a missing_ok request answers None
    return body
