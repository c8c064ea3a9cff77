"""Fetching many things from one index (PyPI's provenance, its license metadata) the same way:
one request first, so an unreachable index costs one timeout and not one per item; then the
rest FETCH_WORKERS at a time. A failure is returned in place of its answer, never raised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from triage.errors import UpstreamError

FETCH_WORKERS = 8
Item = TypeVar("Item")
Answer = TypeVar("Answer")


def fetch_all(
    items: Sequence[Item], fetch: Callable[[Item], Answer]
) -> list[Answer | UpstreamError]:
    """Answers in the order of `items`; after a failed first request the list is shorter
    (nothing more was asked)."""

    def guarded(item: Item) -> Answer | UpstreamError:
        try:
            return fetch(item)
        except UpstreamError as exc:
            return exc

    if not items:
        return []
    answers = [guarded(items[0])]
    if not isinstance(answers[0], UpstreamError):
        with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
            answers += list(pool.map(guarded, items[1:]))
    return answers
