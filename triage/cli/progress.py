"""Progress of a command's phases on stderr: rich's bar on a terminal, one line per phase in a
log (the caller decides which)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STILL_RUNNING = 2.0  # seconds


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int | None], None]]:
    """rich's progress bar on stderr (a terminal only: the caller decides), one task per
    label."""
    from rich.console import Console
    from rich.progress import Progress as Bar

    from triage.cli.output import unfiltered

    with Bar(console=Console(file=unfiltered(sys.stderr)), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update


@contextmanager
def phase_lines(
    write: Callable[[str], None], *, shortest: float
) -> Iterator[Callable[[str, int, int | None], None]]:
    """For a log (CI, a pipe): one line per phase when it ends, what, how many and how long,
    for the phases that took `shortest` seconds or more. A phase ends when the next begins. A
    phase still running after STILL_RUNNING seconds says so once, so a log never sits silent."""
    import time

    started: dict[str, float] = {}
    counts: dict[str, tuple[int, int | None]] = {}
    announced: set[str] = set()

    def close(label: str) -> None:
        took = time.monotonic() - started.pop(label)
        done, total = counts.pop(label)
        if took >= shortest:
            write(f"{label}: {done if total is None else f'{done}/{total}'} in {took:.1f} s")

    def update(label: str, done: int, total: int | None) -> None:
        if label not in started:
            for earlier in list(started):
                close(earlier)
            started[label] = time.monotonic()
        counts[label] = (done, total)
        if label not in announced and time.monotonic() - started[label] >= STILL_RUNNING:
            announced.add(label)
            write(f"{label}: {done if total is None else f'{done}/{total}'} so far, still running")

    try:
        yield update
    finally:
        for label in list(started):
            close(label)
