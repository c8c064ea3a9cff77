"""One way to GitHub for every request a token makes: REST calls through PyGithub's objects,
git data, issue writes, the organisation's listing. Each request waits its turn in the
token's `Budget` and tells it what the answer said; a request refused for a rate limit
(primary or secondary) pauses every request of the token, in this process (`LocalBudget`,
its threads) or in every Celery worker (the budget kept in Redis), and is sent again once
the pause is over: a refused request was not carried out, so that holds for writes too.
Requests are counted, refusals apart, whoever sends them.

Other failures (5xx answers, dropped connections) are left to the caller, which knows
whether the whole operation may be done again (a write is re-found before it is redone)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct

from triage.core import budget
from triage.errors import UpstreamError

if TYPE_CHECKING:
    from github import Github

REFUSED_ATTEMPTS = 5  # a request refused for a rate limit is sent again after the pause
MAX_WAIT_SECONDS = 120.0  # a longer wait (a spent hourly budget) ends the run instead


def pause(seconds: float) -> None:
    """The comment and issue client's waits (between its attempts, and its own budget's
    pauses: `recorded_pauses`) go through here, so tests record them instead of sleeping."""
    time.sleep(seconds)


class Budget(Protocol):
    """The token's request budget, shared by everyone who spends it."""

    def wait_turn(self) -> None:
        """Block while a pause stands or the hourly budget is spent (briefly)."""

    def observe(self, reading: budget.Reading) -> None:
        """Record what an answer said; a refusal pauses every request of the token."""


def turn_wait(
    now: float, paused_until: float, remaining: int | None, *, reset: float | None
) -> float:
    """Seconds a request waits for its turn (budget.wait_before_next); a wait longer than
    MAX_WAIT_SECONDS (a spent hourly budget) ends the run instead, the same for every budget."""
    wait = budget.wait_before_next(now, paused_until, remaining, reset=reset)
    if wait > MAX_WAIT_SECONDS:
        raise UpstreamError(
            f"GitHub's request budget for this token is spent for {wait:.0f} s more",
            hint="run again after the reset, or spread the organisation over tokens",
        )
    return wait


class LocalBudget:
    """The budget shared by the threads of one process. `sleep` waits (time.sleep, or the
    module's `pause`, which tests record)."""

    def __init__(self, sleep: Callable[[float], Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._remaining: int | None = None
        self._reset: float | None = None
        self._sleep = sleep or time.sleep

    def wait_turn(self) -> None:
        slept_to = 0.0  # a sleep lasts at least as long as asked, even one only recorded
        while True:
            now = max(time.time(), slept_to)
            with self._lock:
                wait = turn_wait(now, self._paused_until, self._remaining, reset=self._reset)
            if wait <= 0:
                return
            self._sleep(wait)
            slept_to = now + wait
            with self._lock:  # what was waited through is over, for every thread
                if self._paused_until <= slept_to:
                    self._paused_until = 0.0
                if self._reset is not None and self._reset <= slept_to:
                    self._remaining = None

    def observe(self, reading: budget.Reading) -> None:
        with self._lock:
            if reading.remaining is not None:
                self._remaining = reading.remaining
            if reading.reset is not None:
                self._reset = reading.reset
            if reading.refused:
                self._paused_until = max(self._paused_until, time.time() + reading.pause)


def recorded_pauses() -> LocalBudget:
    """A budget of one process whose waits go through `pause` (looked up when waiting)."""
    return LocalBudget(lambda seconds: pause(seconds))


class Counts:
    """What a client sent: every request, and of them those refused for a rate limit (and
    sent again after the pause); counted from every thread sharing the client."""

    def __init__(self) -> None:
        self.requests = 0
        self.refused = 0
        self._lock = threading.Lock()

    def add(self, *, refused: bool) -> None:
        with self._lock:
            self.requests += 1
            self.refused += int(refused)


class Client(Struct, frozen=True):
    """PyGithub's client whose every request goes through `shared`, and what it sent."""

    github: Github
    counts: Counts


def client(
    token: str,
    api_url: str,
    shared: Budget,
    *,
    pace: float = 1.0,
    agent: str = "",
) -> Client:
    """PyGithub's client for `token` with every request under `shared`. PyGithub's own retry
    is off: rate limits are the budget's, other failures the caller's."""
    from github import Auth, Github

    github = Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        retry=None,
        timeout=30,
        per_page=100,
        lazy=True,
        # GitHub advises against bursts (secondary limits): requests 0.25 s apart, writes 1 s;
        # `pace` scales that (0 for a loopback server in tests).
        seconds_between_requests=0.25 * pace,
        seconds_between_writes=1.0 * pace,
        user_agent=f"triage{agent}",
    )
    counts = Counts()
    requester = github.requester
    requester.requestJson = _budgeted(requester.requestJson, shared, counts)  # type: ignore[method-assign]
    return Client(github, counts)


def _budgeted(
    send: Callable[..., tuple[int, dict[str, Any], str]], shared: Budget, counts: Counts
) -> Callable[..., tuple[int, dict[str, Any], str]]:
    """`send` (PyGithub's requestJson, which every JSON request of its objects goes through)
    under the budget: a turn waited for, the answer read, a rate-limit refusal sent again."""

    @functools.wraps(send)
    def request(verb: str, url: str, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
        for _ in range(REFUSED_ATTEMPTS):
            shared.wait_turn()
            try:
                status, headers, body = send(verb, url, *args, **kwargs)
            except Exception:
                counts.add(refused=False)
                raise
            reading = budget.read(status, headers, str(body)[:500], now=time.time())
            shared.observe(reading)
            counts.add(refused=reading.refused)
            if not reading.refused:
                return status, headers, body
        raise UpstreamError(
            f"GitHub kept refusing {verb} {url.split('?')[0]} for a rate limit "
            f"({REFUSED_ATTEMPTS} times)",
            hint="GitHub is limiting this token; the run can be repeated safely later",
        )

    return request
