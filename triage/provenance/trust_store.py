"""The trust store's files: publishers.toml (who may publish what), audits.toml (signed
audit records), imports.toml (external audit files pinned by sha256) and keys/*.pub. Read
from a mapping of paths (inside the store, `/`-separated) to bytes, so that a working tree,
a commit's git objects and an organisation's repository read through GitHub's API look alike
and nothing is ever written to disk to be read back."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from triage import http
from triage.core.matching import normalize_name
from triage.errors import InputError
from triage.models import AuditRecord, Identity, PublisherRule
from triage.provenance.signing import load_public_keys, record_signature_problem

MAX_IMPORT_BYTES = 64 * 1024 * 1024
_KINDS = ("github", "gitlab", "google")


TrustFiles = Mapping[str, bytes]  # path inside the store -> its bytes


class DirectoryFiles(Mapping[str, bytes]):
    """A trust store folder as TrustFiles: files read when asked for, never through a link
    that leaves the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path | None:
        path = (self.folder / name).resolve()
        inside = path.is_relative_to(self.folder.resolve())
        return path if inside and path.is_file() else None

    def __getitem__(self, name: str) -> bytes:
        path = self._path(name) if ".." not in PurePosixPath(name).parts else None
        if path is None:
            raise KeyError(name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot be read: {exc.strerror}") from exc

    def __iter__(self) -> Iterator[str]:
        if not self.folder.is_dir():
            return iter(())
        return iter(
            sorted(
                p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file()
            )
        )

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and ".." not in PurePosixPath(name).parts
            and (self._path(name) is not None)
        )


def _toml(files: TrustFiles, name: str, where: str) -> dict[str, Any] | None:
    """One of the store's TOML files, parsed; None when the store has none."""
    if name not in files:
        return None
    try:
        return tomllib.loads(files[name].decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(
            f"{where}/{name}: not valid TOML: {exc}",
            hint="see the trust-store layout in docs/trust.md",
        ) from exc


def load_publishers(files: TrustFiles, where: str) -> tuple[PublisherRule, ...]:
    """`[[publisher]]` tables: kind, repository (or email for google), workflow, environment,
    packages. Every problem is reported with its key path; an absent file lists nobody."""
    path = f"{where}/publishers.toml"
    document = _toml(files, "publishers.toml", where)
    if document is None:
        return ()
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
                tuple(normalize_name(p) for p in packages),
            )
        )
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise InputError(
            f"{path}: {len(problems)} problem(s):\n{listing}",
            hint="see the trust-store layout in docs/trust.md",
        )
    return tuple(rules)


def _records(
    entries: Any, path: str, source: str, *, keys: Mapping[str, Any] | None
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
                package=normalize_name(entry["package"]),
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


def load_audits(
    files: TrustFiles, where: str, fetch_import: FetchImport | None = None
) -> list[AuditRecord]:
    """Own records (signatures checked against keys/) and imported files, by path inside the
    trust store or by URL, each trusted only while it hashes to its pinned sha256."""
    records: list[AuditRecord] = []
    own = _toml(files, "audits.toml", where)
    if own is not None:
        records += _records(
            own.get("audit", []),
            f"{where}/audits.toml",
            "trust-store/audits.toml",
            keys=load_public_keys(files),
        )
    imports = _toml(files, "imports.toml", where)
    if imports is None:
        return records
    for index, entry in enumerate(imports.get("import", [])):
        here = f"{where}/imports.toml: import[{index}]"
        name, pin = entry.get("name"), entry.get("sha256")
        target, url = entry.get("path"), entry.get("url")
        if (
            not isinstance(name, str)
            or not isinstance(pin, str)
            or not isinstance(target or url, str)
        ):
            raise InputError(
                f"{here}: needs name, sha256, and path or url",
                hint="see the trust-store layout in docs/trust.md",
            )
        if isinstance(url, str):
            if fetch_import is None:
                raise InputError(f"{here}: {url}: imports by URL need the database cache")
            data, shown = fetch_import(url, pin), url
        else:
            inside = PurePosixPath(str(target))
            if inside.is_absolute() or ".." in inside.parts or inside.as_posix() not in files:
                raise InputError(f"{here}: {target}: no such file inside the trust store")
            data, shown = files[inside.as_posix()], str(target)
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
        records += _records(document.get("audit", []), shown, f"import {name}", keys=None)
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
