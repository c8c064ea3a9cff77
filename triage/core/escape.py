"""Escaping for markdown that GitHub renders (PR comments, issue bodies, the markdown report).

Every string that comes from data or from a pull request (package names, versions, file
names, paths, advisory ids, reasons, URLs) goes through `text` or `code` before it is put
into markdown, so none can open an HTML comment (hiding what follows), start a heading or a
list, close a table cell or a code fence, or @-mention anyone."""

from __future__ import annotations

import re

# Characters with an inline meaning in GitHub markdown (emphasis, code, links, tables,
# strikethrough), escaped with a backslash. Block syntax (headings, lists, quotes) needs a line
# start, which a data string never gets: line breaks become spaces and templates put data
# after their own text.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


# What no output shows as written: C0 and C1 controls (a terminal's escape sequences, a
# carriage return that overwrites a line, NUL), Unicode's bidirectional overrides and line
# separators (text that reads other than it is), and lone surrogates (not characters at all).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def _spelled(match: re.Match[str]) -> str:
    point = ord(match.group())
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def visible(value: str) -> str:
    """`value` with every character an output cannot show as written (see _INVISIBLE)
    spelled out as `\\xNN` / `\\uNNNN`; line breaks and tabs are kept."""
    return _INVISIBLE.sub(_spelled, value)


def text(value: str) -> str:
    """Plain text, safe inline in markdown and in a table cell: HTML is entity-encoded,
    markdown punctuation backslash-escaped, `@` cannot mention, line breaks are spaces."""
    flat = " ".join(visible(value).split())
    encoded = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", encoded).replace("@", "&#64;")


def code(value: str) -> str:
    """`value` as inline code when that is safe (no backtick, no line break: inside a code
    span nothing else is interpreted), else as escaped text."""
    if "`" in value or "\n" in value or "\r" in value or not value.strip():
        return text(value)
    return f"`{visible(value)}`"
