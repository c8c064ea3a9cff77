"""Trust: every locked artifact judged under `[trust] mode` (provenance for basic and
certified, audit records for audit); keys and signed audit records for the trust store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from triage import store
from triage.config import edit
from triage.core import trust
from triage.core.artifacts import locked_artifacts
from triage.core.diagnostics import Diagnostics
from triage.core.matching import normalize_name, parse_version
from triage.core.trust import hash_only
from triage.errors import InputError
from triage.models import ArtifactEvidence, Config, Package, TrustMode, TrustResult
from triage.provenance import attestations, signing, trust_store
from triage.provenance.attestations import Claim
from triage.service import provenance
from triage.service.scan import read_lockfiles, summary
from triage.service.workspace import Workspace
from triage.settings import Settings


class TrustReport(Struct):
    results: list[TrustResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def fails(self) -> bool:
        return any(r.fails for r in self.results)


def _claims_from(texts: Mapping[tuple[str, str], str], index: str) -> dict[str, list[Claim]]:
    """Claims by the file they are for: a hash-only pin's by the file its provenance names
    for that digest (the digest is what verification checks)."""
    claims: dict[str, list[Claim]] = {}
    for (filename, sha256), text in texts.items():
        parsed = attestations.parse_claims(
            text, f"{index}: provenance of {filename}", provenance_object=True
        )
        named = {
            found[0]
            for claim in parsed
            if (found := attestations.subject(claim)) is not None and found[1] == sha256
        }
        key = named.pop() if hash_only(filename) and len(named) == 1 else filename
        claims.setdefault(key, []).extend(parsed)
    return claims


def _import_fetcher(
    caches: store.Caches, settings: Settings, *, fetch_imports: bool
) -> trust_store.FetchImport:
    """Imported audit files by URL: downloaded once (https only), kept by their pinned sha256
    (only when they match it), so audit mode works offline afterwards. Without
    `fetch_imports` (a trust store that is not the operator's: an organisation's repository)
    only what the cache holds by the pin is used, and nothing is ever asked for."""

    def fetch(url: str, pin: str) -> bytes:
        cached = caches.cached_import(pin)
        if cached is not None:
            return cached
        if not fetch_imports:
            raise InputError(
                f"{url}: not fetched: in an organisation audit a repository's own trust "
                "store never makes the auditor fetch anything",
                hint="commit the audit file inside trust-store/ and import it by path",
            )
        data = trust_store.download(url, loopback_http=settings.loopback_http)
        if hashlib.sha256(data).hexdigest() == pin:
            caches.cache_import(pin, data)
        return data

    return fetch


class TrustStore(Struct, frozen=True):
    """A trust store's files (from a folder, git objects or GitHub's API alike) and how
    messages name where they are."""

    files: trust_store.TrustFiles
    where: str

    @classmethod
    def folder(cls, path: Path) -> TrustStore:
        return cls(trust_store.DirectoryFiles(path), str(path))

    @classmethod
    def tree(
        cls, blobs: Mapping[str, bytes], paths: Mapping[str, str], top: str, *, label: str
    ) -> TrustStore:
        """A tree's trust store: `paths` (tree path -> blob id) under `top`, read from
        `blobs` (blob id -> bytes)."""
        prefix = top.rstrip("/") + "/"
        files = {path.removeprefix(prefix): blobs[blob] for path, blob in paths.items()}
        return cls(files, f"{label}:{top}")

    def public_keys(self) -> dict[str, Any]:
        return signing.load_public_keys(self.files)


def _judge(
    packages: Sequence[Package],
    cfg: Config,
    store_at: TrustStore,
    *,
    claims: Mapping[str, list[Claim]],
    fetcher: trust_store.FetchImport,
) -> list[TrustResult]:
    publishers = trust_store.load_publishers(store_at.files, store_at.where)
    if cfg.trust.mode is TrustMode.AUDIT:
        audits = trust_store.load_audits(store_at.files, store_at.where, fetcher)
        return [
            trust.judge_audited(ArtifactEvidence(p.name, p.version, name, sha, (), ()), audits)
            for p, name, sha in locked_artifacts(packages, {})
        ]
    by_digest = {
        found[1]: found[0]
        for items in claims.values()
        for claim in items
        if (found := attestations.subject(claim)) is not None
    }
    keys = store_at.public_keys() if claims else {}
    return [
        trust.judge(
            attestations.verify(
                p.name, p.version, name, sha256=sha, claims=claims.get(name, []), keys=keys
            ),
            cfg.trust.mode,
            publishers,
            unsigned=cfg.trust.unsigned,
        )
        for p, name, sha in locked_artifacts(packages, by_digest)
    ]


def judge_packages(
    ws: Workspace,
    db: store.Database,
    packages: Sequence[Package],
    *,
    config: Config,
    store_at: TrustStore,
    diagnostics: Diagnostics,
    provenance_dir: Path | None = None,
    fetch_imports: bool = True,
) -> list[TrustResult]:
    """Every locked artifact of `packages` judged by `config`'s [trust] and the trust store
    `store_at`; provenance from `provenance_dir`, else the cache and the settings' index.
    `fetch_imports`: whether the trust store's imports by URL may be downloaded (only for a
    trust store of the operator's own: never an organisation's repository's)."""
    caches = store.Caches(db)
    claims: dict[str, list[Claim]] = {}
    with db.transaction():
        if provenance_dir is not None:
            claims, skipped = attestations.load_directory(provenance_dir)
            if skipped:
                diagnostics.warn(
                    f"{provenance_dir}: {len(skipped)} file(s) skipped, not named "
                    "<artifact>.provenance, .publish.attestation or .sig: " + ", ".join(skipped)
                )
        elif config.trust.mode is not TrustMode.AUDIT:
            artifacts = locked_artifacts(packages, {})
            texts = provenance.provenance_texts(ws, caches, artifacts, diagnostics=diagnostics)
            claims = _claims_from(texts, ws.settings.pypi_url)
    fetcher = _import_fetcher(caches, ws.settings, fetch_imports=fetch_imports)
    with db.transaction():
        judged = _judge(packages, config, store_at, claims=claims, fetcher=fetcher)
    diagnostics.warn_all(caches.rejected)
    return judged


def trust_check(ws: Workspace, provenance_dir: Path | None) -> TrustReport:
    """A verdict for every locked artifact with a digest, under `[trust] mode`: provenance
    (from --provenance-dir, else the index's project pages through the cache) for basic and
    certified, audit records for audit."""
    packages, _, _ = summary(read_lockfiles(ws.root, ws.lockfiles, ws.config.scan))
    said = Diagnostics()
    with ws.database() as db:
        results = judge_packages(
            ws,
            db,
            packages,
            config=ws.config,
            store_at=TrustStore.folder(ws.trust_dir),
            diagnostics=said,
            provenance_dir=provenance_dir,
        )
    return TrustReport(results, list(said.warnings))


def trust_keygen(ws: Workspace, name: str, private_dir: Path | None) -> tuple[Path, Path]:
    """A signing key: private half 0600 outside the repository, public half in keys/."""
    private = private_dir or ws.settings.private_keys
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"{name!r} is not a key name", hint="use letters, digits, . _ -")
    if private.resolve().is_relative_to(ws.root.resolve()):
        raise InputError(
            f"{private}: inside the repository {ws.root}",
            hint="private keys live outside it (default ~/.config/triage/keys)",
        )
    return signing.generate_key(name, private, ws.trust_dir / "keys")


class Certification(Struct, frozen=True):
    requirement: str  # PKG==VERSION
    criteria: str
    key_name: str
    notes: str = ""
    from_version: str | None = None
    who: str | None = None  # default: who runs the command
    private_dir: Path | None = None  # default: the settings' key folder


def trust_certify(ws: Workspace, request: Certification) -> dict[str, Any]:
    """Append a signed audit record to trust-store/audits.toml (layout and comments kept),
    listing the digests the repository's lockfiles pin for that version."""
    name, _, version = request.requirement.partition("==")
    if not name or not version or parse_version(version) is None:
        raise InputError(
            f"{request.requirement!r} is not PKG==VERSION", hint="e.g. requests==2.32.3"
        )
    key_id = signing.KEY_PREFIX + request.key_name
    record: dict[str, Any] = {
        "package": name,
        "version": version,
        "criteria": request.criteria,
        "who": request.who or ws.settings.user,
        "date": ws.now().date().isoformat(),
        "notes": request.notes,
        "key": key_id,
    }
    if request.from_version:
        record["from"] = request.from_version
    # Only to list the digests locked now; a record without them covers any artifact.
    packages, _, _ = summary(read_lockfiles(ws.root, [], ws.config.scan, required=False))
    digests = sorted(
        {
            sha
            for package, _, sha in locked_artifacts(packages, {})
            if package.name == normalize_name(name) and package.version == version
        }
    )
    if digests:  # the record then covers exactly the artifacts locked now
        record["sha256"] = digests
    if key_id not in TrustStore.folder(ws.trust_dir).public_keys():
        raise InputError(
            f"{ws.trust_dir}/keys/{request.key_name}.pub: no such public key",
            hint=f"create it with `triage trust keygen {request.key_name}`",
        )
    private_dir = request.private_dir or ws.settings.private_keys
    record["signature"] = signing.sign(record, private_dir / f"{request.key_name}.key")
    edit.append_table(ws.trust_dir / "audits.toml", "audit", record)
    return record
