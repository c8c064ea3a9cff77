"""PEP 740 provenance: reading it (from a directory, or as the index serves it) and verifying it
offline with pypi-attestations / sigstore.

Files in the provenance directory are named after the artifact they describe:
`<artifact filename>.provenance` (PyPI's provenance object, which names the publisher of
each bundle) or `<artifact filename>.publish.attestation` (a bare attestation; the publisher
it claims is read from its signing certificate); `<artifact filename>.sig` is an in-house
signature. Verification always checks the digest the lockfile pins, never the file on disk,
so a tampered hash fails.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from triage.errors import InputError
from triage.models import ArtifactEvidence, Identity
from triage.provenance.signing import KEY_PREFIX, verify_artifact_signature

if TYPE_CHECKING:
    from pypi_attestations import Attestation

PROVENANCE_SUFFIXES = (".provenance", ".publish.attestation")
SIGNATURE_SUFFIX = ".sig"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
_ISSUER_OID = "1.3.6.1.4.1.57264.1.8"
_SOURCE_REPOSITORY_OID = "1.3.6.1.4.1.57264.1.12"
_BUILD_CONFIG_OID = "1.3.6.1.4.1.57264.1.18"


class Claim(Struct, frozen=True):
    """One attestation and the publisher it claims (None when it names none), or an
    in-house signature (`signature`) by the key the identity names."""

    attestation: Attestation | None
    identity: Identity | None
    source: str  # file it came from, for messages
    signature: bytes = b""


def _load_signature(path: Path) -> Claim:
    """`<artifact>.sig`: {"key": "ed25519:<name>", "signature": "<base64>"}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise _bad(path, f"line {exc.lineno}, column {exc.colno}", f"not JSON: {exc.msg}") from exc
    except (RecursionError, ValueError) as exc:
        raise _bad(path, "(top level)", f"not JSON triage reads: {exc}") from exc
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
    except (RecursionError, ValueError) as exc:
        raise _bad(where_from, "(top level)", f"not JSON triage reads: {exc}") from exc
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


def load_directory(directory: Path) -> tuple[dict[str, list[Claim]], list[str]]:
    """Claims by artifact file name, and the names of the files that hold none (not named
    <artifact>.provenance, .publish.attestation or .sig), so they can be reported."""
    if not directory.is_dir():
        raise InputError(
            f"{directory}: no such provenance directory",
            hint="point --provenance-dir at a folder of .provenance files",
        )
    claims: dict[str, list[Claim]] = {}
    skipped: list[str] = []
    for path in sorted(directory.iterdir()):
        if path.name.endswith(SIGNATURE_SUFFIX):
            claims.setdefault(path.name.removesuffix(SIGNATURE_SUFFIX), []).append(
                _load_signature(path)
            )
            continue
        suffix = next((s for s in PROVENANCE_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None:
            skipped.append(path.name)
            continue
        claims.setdefault(path.name.removesuffix(suffix), []).extend(_load(path))
    return claims, skipped


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


def verify(
    package: str,
    version: str,
    filename: str,
    *,
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
        assert claim.identity is not None
        problem = verify_artifact_signature(
            claim.identity.repository,
            claim.signature,
            claim.source,
            filename=filename,
            sha256=sha256,
            keys=keys or {},
        )
        if problem:
            failures.append(problem)
        else:
            verified.append(claim.identity)
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


def subject(claim: Claim) -> tuple[str, str] | None:
    """The (file name, sha256) the attestation's statement is about."""
    if claim.attestation is None:
        return None
    try:
        statement = json.loads(claim.attestation.envelope.statement)
        first = statement["subject"][0]
        return str(first["name"]), str(first["digest"]["sha256"])
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return None
