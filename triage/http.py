"""The one HTTP client (the standard library's urllib): every request has a timeout and a
cap on how much of the answer it reads, and network failures become upstream errors (exit 4)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from msgspec import Struct

from triage.errors import InputError, UpstreamError

if TYPE_CHECKING:
    import ssl
    import urllib.request
    from http.client import HTTPMessage
    from typing import IO

TIMEOUT_SECONDS = 30.0
CHUNK = 1 << 16


def _loopback(host: str | None) -> bool:
    import ipaddress

    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, loopback_http: bool = False) -> None:
    """Only https is fetched (plain http only to this machine's loopback, and only where the
    setting allows it, for tests and local mirrors); never file:, ftp: or anything else a
    URL can name. Every redirect is checked the same way before it is followed."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InputError(f"{url!r} is not a URL: {exc}") from exc
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and loopback_http and _loopback(host):
        return
    raise InputError(
        f"{url}: not fetched: only https URLs are (plain http to this machine only with "
        "TRIAGE_LOOPBACK_HTTP=1)",
        hint="name an https address",
    )


@functools.cache
def _opener(loopback_http: bool) -> urllib.request.OpenerDirector:
    """urllib's opener whose redirects are checked as the first URL was; no file: or ftp:
    handler is there to be redirected to. Proxies come from the environment, as before."""
    import urllib.request

    class Checked(urllib.request.HTTPRedirectHandler):
        def http_error_302(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: HTTPMessage,
        ) -> Any:
            from urllib.parse import urljoin

            target = headers.get("Location") or headers.get("URI")
            if target:
                check_url(urljoin(req.full_url, target), loopback_http=loopback_http)
            return super().http_error_302(req, fp, code, msg, headers)

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=_tls_context()),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        Checked(),
    ):
        opener.add_handler(handler)
    return opener


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
    *,
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
    loopback_http: bool = False,
) -> bytes | None:
    """The body of `url`, read up to `max_bytes`; None for a 404 when `missing_ok`. `server`
    names who answered, for messages. `loopback_http`: see `check_url`."""
    import urllib.error
    import urllib.request

    check_url(url, loopback_http=loopback_http)
    request = urllib.request.Request(url, headers=dict(headers or {}))
    parts: list[bytes] = []
    try:
        with _opener(loopback_http).open(request, timeout=timeout) as response:
            _read_capped(response, url, max_bytes, write=parts.append, progress=None, expected=None)
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        raise UpstreamError(f"{url}: {server} answered {exc.code}", hint=hint) from exc
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise UpstreamError(f"{url}: download failed: {exc}", hint=hint) from exc
    return b"".join(parts)


class Answer(Struct, frozen=True):
    """A conditional GET's answer: 200 with its body and ETag, 304 (the `etag` given still
    holds), or 404 when it is accepted."""

    status: int
    body: bytes | None
    etag: str | None


def get_conditional(
    url: str,
    *,
    etag: str | None,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    server: str = "the server",
    loopback_http: bool = False,
) -> Answer:
    """`get` with If-None-Match: an unchanged answer costs no body (304); a 404 is an answer,
    not a failure."""
    import urllib.error
    import urllib.request

    check_url(url, loopback_http=loopback_http)
    asked = {**(headers or {}), **({"If-None-Match": etag} if etag else {})}
    request = urllib.request.Request(url, headers=asked)
    parts: list[bytes] = []
    try:
        with _opener(loopback_http).open(request, timeout=timeout) as response:
            _read_capped(response, url, max_bytes, write=parts.append, progress=None, expected=None)
            return Answer(200, b"".join(parts), response.headers.get("ETag"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Answer(304, None, etag)
        if exc.code == 404:
            return Answer(404, None, None)
        raise UpstreamError(f"{url}: {server} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise UpstreamError(f"{url}: no answer from {server}: {exc}") from exc


def download(
    url: str,
    into: BinaryIO,
    *,
    max_bytes: int,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    hint: str | None = None,
    loopback_http: bool = False,
) -> None:
    """Stream `url` into an open file in chunks, up to `max_bytes` (`loopback_http`: see
    `check_url`)."""
    import urllib.error

    check_url(url, loopback_http=loopback_http)
    try:
        with _opener(loopback_http).open(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            _read_capped(
                response, url, max_bytes, write=into.write, progress=progress, expected=expected
            )
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise UpstreamError(f"{url}: download failed: {exc}", hint=hint) from exc
