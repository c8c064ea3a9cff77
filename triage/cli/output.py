"""What reaches the terminal or a pipe shows as written: every command's stdout and stderr go
through `Visible`, which spells out what a terminal would act on instead of showing (escape
sequences, carriage returns, bidirectional overrides, NUL, lone surrogates) wherever the text
came from: a package name, a reason in deny.toml, an advisory's summary, a message. Only rich,
which draws the progress bar and styled tables with escape sequences of its own (and strips
control codes from the text it is given), writes to the streams underneath."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO, cast

from triage.core.escape import visible


class Visible:
    """A text stream that writes `visible` text to the stream it wraps."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        # What click reads to decide the stream needs no re-wrapping.
        self.encoding = getattr(raw, "encoding", None) or "utf-8"
        self.errors = getattr(raw, "errors", None)

    def write(self, text: str) -> int:
        self.raw.write(visible(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True


def unfiltered(stream: TextIO) -> TextIO:
    """The stream under `Visible`, for rich's own escape sequences."""
    return stream.raw if isinstance(stream, Visible) else stream


@contextmanager
def visible_streams() -> Iterator[None]:
    """stdout and stderr as `Visible` for the length of a command."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, Visible(saved[0])), cast(TextIO, Visible(saved[1]))
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved
