"""Requests to the package index (PyPI's provenance, its license metadata) within one run,
all made the same way: until one request has been answered, one is in flight at a time for
the whole run (every thread, every repository of an organisation run), so an unreachable
index costs one timeout and not one per item; then FETCH_WORKERS at a time. The first failure
(refused, timed out, an answer that is not the index's) ends every lookup of the run, as does
the run's deadline (TRIAGE_INDEX_DEADLINE) or --offline: nothing more is sent, and the caller
says what was not checked and why. A failure comes back in place of its answer, never
raised."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from triage.errors import UpstreamError
from triage.settings import Settings

FETCH_WORKERS = 8
OFFLINE = "offline (--offline or TRIAGE_OFFLINE=1): nothing is fetched"
Item = TypeVar("Item")
Answer = TypeVar("Answer")


class NotAsked(UpstreamError):
    """A lookup not sent: the run's lookups had ended (a failure, the deadline, --offline)."""


class Lookups:
    """The index lookups of one run, shared by whatever the run judges (threads included):
    the first request goes alone, and once they end they stay ended, with the first reason."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._started: float | None = None
        self._ended: str | None = None
        self._probing = False  # the first request is in flight; the others wait for it
        self._answered = False
        # What this run's lookups found, by what was asked: a project page is asked for once
        # a run whatever asks for it (service/pages).
        self.pages: dict[str, Any] = {}

    @property
    def ended(self) -> str | None:
        """Why no more lookups are sent this run; None while they are."""
        return self._ended

    def _end_if_due(self, settings: Settings) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = now
        if self._ended is None and settings.offline:
            self._ended = OFFLINE
        _, deadline = settings.index_timing()
        if self._ended is None and now - self._started > deadline:
            self._ended = (
                f"the run's {deadline:g} s for index lookups ran out (TRIAGE_INDEX_DEADLINE)"
            )

    def ask(self, settings: Settings) -> None:
        """Before a request: waits while the run's first request is unanswered; raises
        NotAsked once the lookups have ended."""
        with self._state:
            while True:
                self._end_if_due(settings)
                if self._ended is not None:
                    raise NotAsked(self._ended)
                if self._answered:
                    return
                if not self._probing:
                    self._probing = True
                    return
                self._state.wait()

    def answered(self) -> None:
        with self._state:
            self._answered, self._probing = True, False
            self._state.notify_all()

    def fail(self, error: UpstreamError) -> None:
        with self._state:
            if self._ended is None:
                self._ended = error.message
            self._probing = False
            self._state.notify_all()


def phase(
    progress: Callable[[str, int, int | None], None] | None, label: str, total: int
) -> Callable[[int], None] | None:
    """`fetch_all`'s progress as the phase `label` of the run's progress, shown from now."""
    if progress is None or not total:
        return None
    progress(label, 0, total)
    return lambda done: progress(label, done, total)


def fetch_all(
    items: Sequence[Item],
    fetch: Callable[[Item], Answer],
    *,
    lookups: Lookups,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
) -> list[Answer | UpstreamError]:
    """An answer (or the failure, or NotAsked) for every item, in the order of `items`;
    `progress` is told how many are done after each."""
    done = itertools.count(1)
    counting = threading.Lock()

    def guarded(item: Item) -> Answer | UpstreamError:
        answer = _one(item)
        if progress is not None:
            with counting:
                progress(next(done))
        return answer

    def _one(item: Item) -> Answer | UpstreamError:
        try:
            lookups.ask(settings)
        except NotAsked as exc:
            return exc
        try:
            answer = fetch(item)
        except UpstreamError as exc:
            lookups.fail(exc)
            return exc
        except BaseException as exc:  # a bug: said as one, without leaving the others waiting
            lookups.fail(UpstreamError(f"lookups stopped: {type(exc).__name__}"))
            raise
        lookups.answered()
        return answer

    if len(items) <= 1 or settings.offline or lookups.ended is not None:
        return [guarded(item) for item in items]  # nothing to wait on: no threads
    from concurrent.futures import ThreadPoolExecutor  # with logging: only when asking

    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        return list(pool.map(guarded, items))
