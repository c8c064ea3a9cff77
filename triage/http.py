"""The one HTTP client (the standard library's urllib): every request has a timeout and a
cap on how much of the answer it reads, and network failures become upstream errors (exit 4)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, BinaryIO

from triage.errors import InputError, UpstreamError

if TYPE_CHECKING:
    import ssl

TIMEOUT_SECONDS = 30.0
CHUNK = 1 << 16


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every request: building one loads the CA bundle, which costs
    more CPU than the request itself."""
    import ssl

    return ssl.create_default_context()


def _read_capped(
    response: BinaryIO,
    url: str,
    max_bytes: int,
    write: Callable[[bytes], object],
    progress: Callable[[int, int | None], None] | None,
    expected: int | None,
) -> None:
    received = 0
    while chunk := response.read(CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise InputError(
                f"{url}: the answer exceeds {max_bytes} bytes; refusing to read more",
                hint="check the address: nothing this large is expected there",
            )
        write(chunk)
        if progress:
            progress(received, expected)


def get(
    url: str,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    missing_ok: bool = False,
    server: str = "the server",
    hint: str | None = None,
) -> bytes | None:
    """The body of `url`, read up to `max_bytes`; None for a 404 when `missing_ok`. `server`
    names who answered, for messages."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers or {}))
    context = _tls_context() if url.startswith("https:") else None
    parts: list[bytes] = []
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            _read_capped(response, url, max_bytes, parts.append, None, None)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        raise UpstreamError(f"{url}: {server} answered {exc.code}", hint=hint) from exc
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise UpstreamError(f"{url}: download failed: {exc}", hint=hint) from exc
    return b"".join(parts)


def download(
    url: str,
    into: BinaryIO,
    *,
    max_bytes: int,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    hint: str | None = None,
) -> None:
    """Stream `url` into an open file in chunks, up to `max_bytes`."""
    import urllib.error
    import urllib.request

    context = _tls_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            _read_capped(response, url, max_bytes, into.write, progress, expected)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise UpstreamError(f"{url}: download failed: {exc}", hint=hint) from exc
