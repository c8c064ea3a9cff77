"""The organisation audit on Celery: `celery -A triage.jobs.org worker`.

Each worker runs the same per-repository task the in-process engine runs, with its own
read-only copy of the advisory database (TRIAGE_DB), pinned by content digest: a task
from a coordinator whose database differs is refused, not judged with other data. Tasks
are acknowledged late and rejected when their worker process is lost, so the broker hands
them out again; they never write to GitHub, so a redone task cannot open an issue twice
(the coordinator alone writes). GitHub's request budget lives in the broker's Redis,
shared by every worker and by the coordinator's listing and issue writes: one refusal pauses
them all."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import redis
from celery import Celery, group
from celery.exceptions import TimeoutError as CeleryTimeout

from triage.core import budget
from triage.errors import UpstreamError
from triage.service import org, org_task
from triage.settings import Settings

_CONF = dict(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    # An unacknowledged task of a worker lost with its host comes back after this long.
    broker_transport_options={"visibility_timeout": 600},
    worker_hijack_root_logger=False,
)
TASK = "triage.org.audit_repository"


def _app(broker_url: str) -> Celery:
    celery = Celery("triage", broker=broker_url, backend=broker_url)
    celery.conf.update(_CONF)
    return celery


class _BrokerFromEnvironment:
    """The workers' broker, read from TRIAGE_BROKER_URL when Celery first needs its
    configuration (a worker starting), not when this module is imported."""

    @property
    def broker_url(self) -> str:
        return Settings.from_environment().broker_url

    @property
    def result_backend(self) -> str:
        return Settings.from_environment().broker_url


# The workers' app (`celery -A triage.jobs.org worker`).
app = Celery("triage")
app.config_from_object(_BrokerFromEnvironment())
app.conf.update(_CONF)
_PAUSE_IF_LATER = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) end
return 0
"""


class RedisBudget:
    """GitHub's budget for one token, kept in Redis for every worker and the coordinator."""

    def __init__(self, client: redis.Redis, token: str, shown: str) -> None:
        import hashlib

        self._client = client
        self._shown = shown  # the broker's URL, password masked
        scope = hashlib.sha256(token.encode()).hexdigest()[:16]  # never the token itself
        self._pause, self._remaining, self._reset = (
            f"triage:budget:{scope}:{name}" for name in ("pause", "remaining", "reset")
        )

    @contextmanager
    def _reached(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise _unreachable(self._shown, exc) from None

    def wait_turn(self) -> None:
        while True:
            with self._reached():
                stored = self._client.mget(self._pause, self._remaining, self._reset)
            pause, remaining, reset = (self._number(value) for value in stored)
            wait = org.turn_wait(
                time.time(),
                pause or 0.0,
                int(remaining) if remaining is not None else None,
                reset=reset,
            )
            if wait <= 0:
                return
            time.sleep(min(wait, 1.0))  # a pause another worker extends is seen within 1 s

    def _number(self, value: bytes | str | None) -> float | None:
        """A stored figure; anything else in the budget's keys stops the run, said."""
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            raise UpstreamError(
                f"GitHub's request budget kept in the broker at {self._shown} holds "
                f"{text[:40]!r}, not a number",
                hint="delete the triage:budget:* keys of that Redis database",
            )
        return number

    def observe(self, reading: budget.Reading) -> None:
        pipe = self._client.pipeline()
        if reading.remaining is not None:
            pipe.set(self._remaining, reading.remaining, ex=3600)
        if reading.reset is not None:
            pipe.set(self._reset, reading.reset, ex=3600)
        if reading.refused:
            pipe.eval(_PAUSE_IF_LATER, 1, self._pause, time.time() + reading.pause)
        with self._reached():
            pipe.execute()


def _unreachable(shown: str, exc: Exception) -> UpstreamError:
    return UpstreamError(
        f"the Celery broker at {shown} cannot be reached ({type(exc).__name__})",
        hint="start it (redis-server), point TRIAGE_BROKER_URL at it, or run without "
        "--engine celery",
    )


def _budget(settings: Settings) -> RedisBudget:
    """The token's budget in the broker's Redis: the workers' and the coordinator's."""
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=3)
    return RedisBudget(client, settings.github_token or "", settings.broker_shown())


@cache
def _context() -> org_task.Context:
    settings = Settings.from_environment()
    return org.worker_context(settings, _budget(settings), org.worker_agent())


def _audit_repository(payload: dict[str, Any]) -> dict[str, Any]:
    return org_task.run_payload(payload, _context())


audit_repository = app.task(name=TASK)(_audit_repository)


def celery_engine(settings: Settings) -> org.Engine:
    """Tasks sent through the broker to whatever workers listen; results gathered here. No
    worker answering within TRIAGE_WORKER_WAIT, or a task unfinished by TRIAGE_ORG_TIMEOUT,
    is said, never waited on for ever."""
    worker_wait, timeout = settings.celery_timing()

    def engine(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # An app of its own for each run: nothing cached from another broker URL.
        coordinator = _app(settings.broker_url)
        try:
            return _gather(coordinator, settings, tasks, worker_wait=worker_wait, timeout=timeout)
        finally:
            coordinator.close()

    return org.Engine(engine, _budget(settings))


def _gather(
    coordinator: Celery,
    settings: Settings,
    tasks: list[dict[str, Any]],
    *,
    worker_wait: float,
    timeout: float,
) -> list[dict[str, Any]]:
    try:
        with coordinator.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:  # kombu raises the transport's own errors
        raise _unreachable(settings.broker_shown(), exc) from None
    deadline = time.monotonic() + worker_wait
    while not coordinator.control.ping(timeout=1.0, limit=1):
        if time.monotonic() >= deadline:
            raise UpstreamError(
                f"no Celery worker answers on the broker at {settings.broker_shown()} "
                f"(waited {worker_wait:g} s)",
                hint="start workers with `celery -A triage.jobs.org worker` on the same "
                "TRIAGE_BROKER_URL, or run without --engine celery",
            )
    sent = group(coordinator.signature(TASK, args=(task,)) for task in tasks).apply_async()
    deadline = time.monotonic() + timeout
    answers: list[Any] = []
    for result in sent.results:
        try:
            left = max(deadline - time.monotonic(), 0.01)
            answers.append(result.get(timeout=left, propagate=False, interval=0.05))
        except CeleryTimeout:
            result.revoke()  # judged too late to be written: not worth a worker's time
            answers.append(f"not finished within TRIAGE_ORG_TIMEOUT={timeout:g} s")
    return [
        answer
        if isinstance(answer, dict)
        else {
            "repository": task["repository"],
            "branch": task["branch"],
            "error": _failure(answer),
            "exit_code": 4,
        }
        for task, answer in zip(tasks, answers, strict=True)
    ]


def _failure(answer: Any) -> str:
    if isinstance(answer, str):
        return answer
    return f"the worker's task failed: {type(answer).__name__}: {answer}"
