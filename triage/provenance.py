"""PEP 740 provenance: reading it from a directory, verifying it offline with
pypi-attestations / sigstore, and the trust store's publishers.toml.

Files in the provenance directory are named after the artifact they describe:
`<artifact filename>.provenance` (PyPI's provenance object, which names the publisher of
each bundle) or `<artifact filename>.publish.attestation` (a bare attestation; the publisher
it claims is read from its signing certificate). Verification always checks the digest the
lockfile pins, never the file on disk, so a tampered hash fails.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from triage.errors import InputError, UpstreamError
from triage.models import ArtifactEvidence, AuditRecord, Identity, PublisherRule

if TYPE_CHECKING:
    import ssl

    from pypi_attestations import Attestation

PROVENANCE_SUFFIXES = (".provenance", ".publish.attestation")
SIGNATURE_SUFFIX = ".sig"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
_ISSUER_OID = "1.3.6.1.4.1.57264.1.8"
_SOURCE_REPOSITORY_OID = "1.3.6.1.4.1.57264.1.12"
_BUILD_CONFIG_OID = "1.3.6.1.4.1.57264.1.18"


@dataclass(frozen=True)
class Claim:
    """One attestation and the publisher it claims (None when it names none), or an
    in-house signature (`signature`) by the key the identity names."""

    attestation: Attestation | None
    identity: Identity | None
    source: str  # file it came from, for messages
    signature: bytes = b""


def artifact_signing_payload(filename: str, sha256: str) -> bytes:
    """What an in-house `<artifact>.sig` signs: the file's name and digest."""
    return f"triage-artifact-v1\n{filename}\nsha256:{sha256}\n".encode()


def _load_signature(path: Path) -> Claim:
    """`<artifact>.sig`: {"key": "ed25519:<name>", "signature": "<base64>"}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise _bad(path, f"line {exc.lineno}, column {exc.colno}", f"not JSON: {exc.msg}") from exc
    key, signature = (
        (document.get("key"), document.get("signature"))
        if isinstance(document, dict)
        else (None, None)
    )
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or not isinstance(signature, str):
        raise _bad(path, "(top level)", 'expected {"key": "ed25519:<name>", "signature": "…"}')
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError as exc:
        raise _bad(path, "signature", "not base64") from exc
    return Claim(None, Identity("key", key), str(path), raw)


def _bad(path: Path, where: str, message: str) -> InputError:
    return InputError(
        f"{path}: {where}: {message}",
        hint="replace it with the provenance PyPI serves for that file",
    )


def _load(path: Path) -> list[Claim]:
    return parse_claims(
        path.read_text(encoding="utf-8", errors="replace"),
        str(path),
        provenance_object=path.name.endswith(".provenance"),
    )


def parse_claims(text: str, source: str, *, provenance_object: bool) -> list[Claim]:
    """A provenance object (PyPI's, naming each bundle's publisher) or a bare attestation."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation, Provenance

    where_from = Path(source)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(
            where_from, f"line {exc.lineno}, column {exc.colno}", f"not JSON: {exc.msg}"
        ) from exc
    try:
        if provenance_object:
            provenance = Provenance.model_validate_json(text)
            return [
                Claim(attestation, _publisher_identity(bundle.publisher), source)
                for bundle in provenance.attestation_bundles
                for attestation in bundle.attestations
            ]
        attestation = Attestation.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise _bad(where_from, where, first["msg"]) from exc
    return [Claim(attestation, claimed_identity(attestation), source)]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every request: building one loads the CA bundle, which costs
    more CPU than the request itself."""
    import ssl

    return ssl.create_default_context()


def fetch_provenance(index: str, project: str, version: str, filename: str) -> str | None:
    """PyPI's Integrity API: the provenance of one file, None when it has none (404).
    Network failures are upstream errors."""
    import urllib.error
    import urllib.parse
    import urllib.request

    quoted = "/".join(urllib.parse.quote(part, safe="") for part in (project, version, filename))
    context = _tls_context() if index.startswith("https:") else None
    request = urllib.request.Request(
        f"{index.rstrip('/')}/integrity/{quoted}/provenance",
        headers={"Accept": "application/vnd.pypi.integrity.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise UpstreamError(f"{request.full_url}: PyPI answered {exc.code}") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise UpstreamError(f"{request.full_url}: {exc}") from exc


def load_directory(directory: Path) -> dict[str, list[Claim]]:
    """Claims by artifact file name."""
    if not directory.is_dir():
        raise InputError(
            f"{directory}: no such provenance directory",
            hint="point --provenance-dir at a folder of .provenance files",
        )
    claims: dict[str, list[Claim]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.endswith(SIGNATURE_SUFFIX):
            claims.setdefault(path.name.removesuffix(SIGNATURE_SUFFIX), []).append(
                _load_signature(path)
            )
        for suffix in PROVENANCE_SUFFIXES:
            if path.name.endswith(suffix):
                claims.setdefault(path.name.removesuffix(suffix), []).extend(_load(path))
    return claims


def _publisher_identity(publisher: Any) -> Identity | None:
    kind = getattr(publisher, "kind", "")
    if kind == "GitHub":
        return Identity("github", publisher.repository, publisher.workflow, publisher.environment)
    if kind == "GitLab":
        return Identity(
            "gitlab", publisher.repository, publisher.workflow_filepath, publisher.environment
        )
    if kind == "Google":
        return Identity("google", publisher.email)
    return None


def _der_text(value: bytes) -> str:
    """Fulcio's v2 extensions are DER UTF8Strings."""
    if len(value) < 2 or value[0] != 0x0C:
        return value.decode(errors="replace")
    length, start = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    return value[start : start + length].decode(errors="replace")


def claimed_identity(attestation: Attestation) -> Identity | None:
    """The Trusted Publisher a bare attestation's certificate names (verified later)."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    values = {ext.oid.dotted_string: ext.value for ext in cert.extensions}

    def text(oid: str) -> str:
        value = values.get(oid)
        return _der_text(value.value) if isinstance(value, x509.UnrecognizedExtension) else ""

    issuer, source, build = text(_ISSUER_OID), text(_SOURCE_REPOSITORY_OID), text(_BUILD_CONFIG_OID)
    if issuer == GITHUB_ISSUER and source.startswith("https://github.com/"):
        workflow = build.split("@", 1)[0].rsplit("/", 1)[-1]
        return Identity("github", source.removeprefix("https://github.com/"), workflow)
    if issuer == GITLAB_ISSUER and source.startswith("https://gitlab.com/"):
        workflow = build.split("@", 1)[0].split("//", 2)[-1]
        return Identity("gitlab", source.removeprefix("https://gitlab.com/"), workflow)
    if issuer == GOOGLE_ISSUER:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        emails = names.value.get_values_for_type(x509.RFC822Name)
        return Identity("google", emails[0]) if emails else None
    return None


def _publisher(identity: Identity) -> Any:
    from pypi_attestations import GitHubPublisher, GitLabPublisher, GooglePublisher

    if identity.kind == "github":
        return GitHubPublisher(
            repository=identity.repository,
            workflow=identity.workflow,
            environment=identity.environment,
        )
    if identity.kind == "gitlab":
        return GitLabPublisher(
            repository=identity.repository,
            workflow_filepath=identity.workflow,
            environment=identity.environment,
        )
    return GooglePublisher(email=identity.repository)


def _verify_signature(
    claim: Claim, filename: str, sha256: str, keys: Mapping[str, Any]
) -> str | None:
    """None when the in-house signature verifies with a trust-store key, else why not."""
    from cryptography.exceptions import InvalidSignature

    assert claim.identity is not None
    key = keys.get(claim.identity.repository)
    if key is None:
        return (
            f"{claim.source}: signed by {claim.identity.repository}, which trust-store/keys/ lacks"
        )
    try:
        key.verify(claim.signature, artifact_signing_payload(filename, sha256))
    except InvalidSignature:
        return f"{claim.source}: the signature does not match {filename} sha256:{sha256[:12]}…"
    return None


def verify(
    package: str,
    version: str,
    filename: str,
    sha256: str,
    claims: list[Claim],
    keys: Mapping[str, Any] | None = None,
) -> ArtifactEvidence:
    """Verify every claim, offline, for exactly this file name and digest; in-house
    signatures against the trust store's `keys`."""
    if not claims:  # nothing to verify: do not load sigstore
        return ArtifactEvidence(package, version, filename, sha256, (), ())
    verified: list[Identity] = []
    failures: list[str] = []
    for claim in [c for c in claims if c.attestation is None and c.identity is not None]:
        problem = _verify_signature(claim, filename, sha256, keys or {})
        if problem:
            failures.append(problem)
        else:
            verified.append(claim.identity)  # type: ignore[arg-type]
    attested = [c for c in claims if c.attestation is not None]
    if not attested:
        return ArtifactEvidence(
            package, version, filename, sha256, tuple(verified), tuple(failures)
        )
    from pypi_attestations import AttestationError, Distribution

    # Offline verification is deliberate; sigstore warns about it on every call.
    logging.getLogger("sigstore").setLevel(logging.ERROR)

    try:
        dist = Distribution(name=filename, digest=sha256)
    except ValueError as exc:
        failures.append(f"{filename}: not a distribution file name ({exc})")
        return ArtifactEvidence(
            package, version, filename, sha256, tuple(verified), tuple(failures)
        )
    for claim in attested:
        assert claim.attestation is not None
        if claim.identity is None:
            failures.append(f"{claim.source}: the attestation names no Trusted Publisher")
            continue
        try:
            claim.attestation.verify(_publisher(claim.identity), dist, offline=True)
        except AttestationError as exc:
            failures.append(
                f"{claim.source}: does not verify for {filename} "
                f"sha256:{sha256[:12]}…: {str(exc).splitlines()[0][:160]}"
            )
            continue
        verified.append(claim.identity)
    return ArtifactEvidence(
        package, version, filename, sha256, tuple(dict.fromkeys(verified)), tuple(failures)
    )


# --- trust-store/publishers.toml ---------------------------------------------------------------

_KINDS = ("github", "gitlab", "google")


def load_publishers(path: Path) -> tuple[PublisherRule, ...]:
    """`[[publisher]]` tables: kind, repository (or email for google), workflow, environment,
    packages. Every problem is reported with its key path; an absent file lists nobody."""
    if not path.is_file():
        return ()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
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


def subject(claim: Claim) -> tuple[str, str] | None:
    """The (file name, sha256) the attestation's statement is about."""
    if claim.attestation is None:
        return None
    try:
        statement = json.loads(claim.attestation.envelope.statement)
        first = statement["subject"][0]
        return str(first["name"]), str(first["digest"]["sha256"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


# --- ed25519 keys and audit records ------------------------------------------------------------

KEY_PREFIX = "ed25519:"
AUDIT_FIELDS = ("package", "version", "from", "criteria", "who", "date", "notes", "key", "sha256")


def load_public_keys(directory: Path) -> dict[str, Any]:
    """`keys/<name>.pub` (PEM ed25519 public keys) by id `ed25519:<name>`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys: dict[str, Any] = {}
    if not directory.is_dir():
        return keys
    for path in sorted(directory.glob("*.pub")):
        try:
            key = load_pem_public_key(path.read_bytes())
        except ValueError as exc:
            raise InputError(
                f"{path}: not a PEM public key: {exc}",
                hint="write it with `triage trust keygen NAME`",
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(
                f"{path}: not an ed25519 public key (found {type(key).__name__})",
                hint="write it with `triage trust keygen NAME`",
            )
        keys[KEY_PREFIX + path.stem] = key
    return keys


def signed_bytes(record: Mapping[str, Any]) -> bytes:
    """What a signature covers: every field but the signature, canonically."""
    content = {
        k: [str(v) for v in record[k]] if isinstance(record[k], list) else str(record[k])
        for k in AUDIT_FIELDS
        if k in record
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not valid TOML: {exc}", hint="see the trust-store layout in README.md"
        ) from exc


def _records(
    entries: Any, path: Path, source: str, keys: Mapping[str, Any] | None
) -> list[AuditRecord]:
    """Audit records of one file; with `keys`, each must carry a valid signature."""
    from cryptography.exceptions import InvalidSignature

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
                try:
                    key.verify(base64.b64decode(str(signature)), signed_bytes(entry))
                except (InvalidSignature, ValueError):
                    problem = "its signature does not match its content"
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
        digest = hashlib.sha256(data).hexdigest()
        if digest != pin:
            raise InputError(
                f"{here}: {shown} no longer matches its pinned sha256 "
                f"(pinned {pin[:16]}…, file has {digest[:16]}…); refusing the import",
                hint="review the new file, then pin its sha256 in imports.toml",
            )
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{here}: {shown}: not valid TOML: {exc}") from exc
        records += _records(document.get("audit", []), Path(shown), f"import {name}", None)
    return records


def download(url: str) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise UpstreamError(
            f"{url}: download failed: {exc}",
            hint="the import is cached once fetched; fetch it while online",
        ) from exc


def generate_key(name: str, private_dir: Path, public_dir: Path) -> tuple[Path, Path]:
    """A new ed25519 key: the private half 0600 outside the repository, the public half PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path, public_path = private_dir / f"{name}.key", public_dir / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path}: already exists; keys are never overwritten")
    key = Ed25519PrivateKey.generate()
    try:
        private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        public_dir.mkdir(parents=True, exist_ok=True)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    except OSError as exc:
        raise InputError(
            f"{exc.filename or private_dir}: cannot write the key: {exc.strerror}",
            hint="choose a writable --private-dir or trust store",
        ) from exc
    return private_path, public_path


def sign(record: Mapping[str, Any], private_key: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InputError(f"{private_key}: not a readable private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{private_key}: not an ed25519 private key")
    return base64.b64encode(key.sign(signed_bytes(record))).decode()
