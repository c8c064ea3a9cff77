"""License data (SPEC §12): a package version's license as an SPDX expression, from its PyPI
metadata, parsed and normalised through license-expression's SPDX key index (the only home
of that library), and the metadata fetched through the one HTTP client."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from triage import http
from triage.models import LicenseInfo

if TYPE_CHECKING:
    from license_expression import Licensing

MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64  # parentheses in one license expression; real ones have a handful
# A node of a parsed expression: ("id", key) | ("with", key, exception) | ("and"|"or", nodes)
Node = tuple[Any, ...]

# Trove classifiers that name exactly one SPDX license. "BSD License", "GPL", "Public Domain"
# and the like do not, and leave a package unknown rather than guessed.
CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": (
        "GPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": (
        "GPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": (
        "LGPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": (
        "LGPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": (
        "AGPL-3.0-or-later"
    ),
}


@cache
def _licensing() -> Licensing:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def normalise(text: str) -> str | None:
    """`text` as a normalised SPDX expression, or None when it is not one (an unknown key,
    free text, bad syntax)."""
    from license_expression import ExpressionError, ExpressionParseError

    if not text.strip() or text.count("(") > MAX_NESTING:
        return None  # no license is written that deep; the parser would recurse past Python's
    try:
        parsed = _licensing().parse(text, validate=True, strict=False)
        return None if parsed is None else str(parsed.render())
    except (ExpressionError, ExpressionParseError, TypeError, ValueError, RecursionError):
        return None


def tree(expression: str) -> Node:
    """A normalised expression as nested tuples, for the core to judge."""
    from license_expression import AND, OR, LicenseSymbol, LicenseWithExceptionSymbol

    def walk(node: Any) -> Node:
        if isinstance(node, LicenseWithExceptionSymbol):
            return ("with", node.license_symbol.key, node.exception_symbol.key)
        if isinstance(node, LicenseSymbol):
            return ("id", node.key)
        if isinstance(node, AND | OR):
            return ("and" if isinstance(node, AND) else "or", tuple(walk(a) for a in node.args))
        raise ValueError(f"an SPDX expression node triage does not know: {node!r}")

    return walk(_licensing().parse(expression, validate=True, strict=False))


def unknown_ids(ids: Iterable[str]) -> list[str]:
    """Those of `ids` that are not SPDX license ids (or `X WITH exception` pairs)."""
    return [key for key in ids if normalise(key) is None or " OR " in key or " AND " in key]


def from_metadata(info: Mapping[str, Any]) -> LicenseInfo:
    """PEP 639's License-Expression first, else the License field when it is an SPDX
    expression, else the license classifiers when each names one SPDX license; anything
    else is unknown, with the text kept. No license information at all: unlicensed."""
    expression = info.get("license_expression")
    if isinstance(expression, str) and expression.strip():
        found = normalise(expression)
        return LicenseInfo(found, "license-expression", "" if found else expression)
    field = info.get("license")
    field = field.strip() if isinstance(field, str) else ""
    if field.upper() == "UNKNOWN":
        field = ""
    if field and (found := normalise(field)) is not None:
        return LicenseInfo(found, "license")
    classifiers = [
        c
        for c in info.get("classifiers") or []
        if isinstance(c, str) and c.startswith("License ::")
    ]
    mapped = [CLASSIFIERS.get(c) for c in classifiers]
    if classifiers and all(mapped):
        joined = " OR ".join(dict.fromkeys(m for m in mapped if m))
        return LicenseInfo(normalise(joined), "classifiers")
    raw = "; ".join([_first_line(field), *classifiers] if field else classifiers)
    if raw:
        return LicenseInfo(None, "license" if field else "classifiers", raw)
    return LicenseInfo(None, "none")


RAW_LIMIT = 120


def _first_line(text: str) -> str:
    """A License field is sometimes the whole license text: its first line is kept."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= RAW_LIMIT else line[: RAW_LIMIT - 1] + "…"


def fetch_answer(
    index: str, name: str, version: str, *, timeout: float, loopback_http: bool = False
) -> bytes | None:
    """PyPI's JSON API's answer for one release, as sent; None when the index has no such
    release (404). Network failures are upstream errors."""
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in (name, version))
    return http.get(
        f"{index.rstrip('/')}/pypi/{quoted}/json",
        headers={"Accept": "application/json"},
        max_bytes=MAX_METADATA_BYTES,
        timeout=timeout,
        missing_ok=True,
        server="PyPI",
        loopback_http=loopback_http,
    )


def metadata_of(body: bytes | None) -> dict[str, Any] | None:
    """The license fields of an answer: its `info`'s license expression, license and
    classifiers; None for no such release, {} for an answer that is not PyPI's JSON."""
    if body is None:
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # not JSON, or nested past reason
        return {}
    info = document.get("info") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        return {}
    return {key: info.get(key) for key in ("license_expression", "license", "classifiers")}
