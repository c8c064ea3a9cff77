"""ed25519 signing (cryptography): trust-store keys, in-house artifact signatures, signed
audit records."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from triage.errors import InputError

KEY_PREFIX = "ed25519:"
AUDIT_FIELDS = ("package", "version", "from", "criteria", "who", "date", "notes", "key", "sha256")


def artifact_signing_payload(filename: str, sha256: str) -> bytes:
    """What an in-house `<artifact>.sig` signs: the file's name and digest."""
    return f"triage-artifact-v1\n{filename}\nsha256:{sha256}\n".encode()


def verify_artifact_signature(
    key_id: str,
    signature: bytes,
    source: str,
    *,
    filename: str,
    sha256: str,
    keys: Mapping[str, Any],
) -> str | None:
    """None when an in-house signature verifies with a trust-store key, else why not."""
    from cryptography.exceptions import InvalidSignature

    key = keys.get(key_id)
    if key is None:
        return f"{source}: signed by {key_id}, which trust-store/keys/ lacks"
    try:
        key.verify(signature, artifact_signing_payload(filename, sha256))
    except InvalidSignature:
        return f"{source}: the signature does not match {filename} sha256:{sha256[:12]}…"
    return None


def record_signature_problem(key: Any, signature: str, record: Mapping[str, Any]) -> str | None:
    """None when an audit record's signature verifies with `key`, else why not."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(base64.b64decode(signature), signed_bytes(record))
    except (InvalidSignature, ValueError):
        return "its signature does not match its content"
    return None


_KEY_FILE = re.compile(r"keys/([A-Za-z0-9_.-]+)\.pub")  # keygen's names, one level down


def load_public_keys(files: Mapping[str, bytes]) -> dict[str, Any]:
    """`keys/<name>.pub` of a trust store's files (PEM ed25519 public keys), by id
    `ed25519:<name>`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys: dict[str, Any] = {}
    for name in sorted(files):
        found = _KEY_FILE.fullmatch(name)
        if found is None:
            continue
        try:
            key = load_pem_public_key(files[name])
        except ValueError as exc:
            raise InputError(
                f"{name}: not a PEM public key: {exc}",
                hint="write it with `triage trust keygen NAME`",
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(
                f"{name}: not an ed25519 public key (found {type(key).__name__})",
                hint="write it with `triage trust keygen NAME`",
            )
        keys[KEY_PREFIX + found.group(1)] = key
    return keys


def signed_bytes(record: Mapping[str, Any]) -> bytes:
    """What a signature covers: every field but the signature, canonically."""
    content = {
        k: [str(v) for v in record[k]] if isinstance(record[k], list) else str(record[k])
        for k in AUDIT_FIELDS
        if k in record
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


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
    return sign_bytes(signed_bytes(record), private_key)


def sign_bytes(data: bytes, private_key: Path) -> str:
    """An ed25519 signature of `data` by the key at `private_key`, base64."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{private_key}: not a readable private key: {exc}",
            hint="create the key with `triage trust keygen NAME`",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{private_key}: not an ed25519 private key")
    return base64.b64encode(key.sign(data)).decode()


def verifies(key: Any, signature: str, data: bytes) -> bool:
    """Whether `signature` (base64) is `key`'s signature of `data`."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
