"""Derived state is bound to what it was derived from (issue 21): each derived row records
the digest of its inputs, the version of what derived it, and a digest of itself, so that a
row edited on its own is noticed where it is read, and `triage db verify` can re-derive every
row from the primary ones and name each that differs.

What this cannot do, and says so: whoever can write the database can edit a primary fact (an
advisory's range, a fetched answer) and every digest beside it. Such an edit is caught by a
witness made before it (the database digest covers every fact matching uses) and by the
Celery coordinator (workers are pinned by that digest), not by the database alone."""

from __future__ import annotations

import functools
import hashlib
import zlib
from pathlib import Path

from triage import __version__


def row_digest(*parts: str | bytes | None) -> str:
    """A digest of a row's fields, each marked by its type and length so no two rows with
    different fields can share one."""
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"n0:")
            continue
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(b"s" if isinstance(part, str) else b"b")
        digest.update(f"{len(data)}:".encode() + data)
    return "sha256:" + digest.hexdigest()


@functools.cache
def deriver(*modules: str) -> str:
    """The version of what derives a table: triage's version and a digest of the source of
    the modules (paths under triage/) that do it, so that a changed deriver is noticed even
    between releases."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(__version__.encode())
    for module in modules:
        digest.update(module.encode() + b"\0" + (package / module).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def pack(data: bytes) -> bytes:
    """A kept input, compressed: re-derivation needs it, nothing else reads it."""
    return zlib.compress(data, 1)


def unpack(data: bytes | None) -> bytes | None:
    if data is None:
        return None
    try:
        return zlib.decompress(data)
    except zlib.error:
        return None
