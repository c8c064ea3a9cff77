"""Where the code that reads and judges says what the run could live with but must show (a
record field dropped, a source skipped, PyPI unreachable for some files): one sink, handed
down, instead of lists passed in to be filled. The caller shows what was said, once, in the
order it was said."""

from __future__ import annotations

from collections.abc import Iterable


class Diagnostics:
    """The warnings of one run (or of one part of it, copied into its report)."""

    def __init__(self) -> None:
        self._warnings: list[str] = []

    def warn(self, message: str) -> None:
        self._warnings.append(message)

    def warn_all(self, messages: Iterable[str]) -> None:
        self._warnings.extend(messages)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._warnings)
