"""GitHub's request budget as a rule: what an answer says about it, and how long a client
must wait before its next request. Pure: the clock and the shared state are given, so one
process or many workers (through a shared store) follow the same rule.

GitHub documents two limits: the primary one (5,000 requests an hour per token; the
X-RateLimit-* headers count it down, a 304 to a conditional request is not charged) and
secondary ones (bursts, concurrency: refused with 403 or 429 and usually Retry-After; without
it, wait at least a minute). A client that keeps sending while limited risks its token
being banned, so a refusal pauses every request of the token, not only the one refused."""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct

SECONDARY_DEFAULT_WAIT = 60.0  # GitHub: "wait for at least one minute" without Retry-After


class Reading(Struct, frozen=True):
    """What one answer told about the budget."""

    remaining: int | None  # X-RateLimit-Remaining, when given
    reset: float | None  # X-RateLimit-Reset (epoch seconds), when given
    pause: float  # seconds every request must wait (0: none)
    refused: bool  # the request was refused for a rate limit


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def read(status: int, headers: Mapping[str, str], message: str, *, now: float) -> Reading:
    """The budget an answer reports; a refusal for a rate limit carries the pause it asks."""
    remaining_text = _number(_header(headers, "x-ratelimit-remaining"))
    remaining = int(remaining_text) if remaining_text is not None else None
    reset = _number(_header(headers, "x-ratelimit-reset"))
    if status not in (403, 429):
        return Reading(remaining, reset, 0.0, False)
    retry_after = _number(_header(headers, "retry-after"))
    if remaining == 0 and reset is not None:
        return Reading(remaining, reset, max(0.0, reset - now), True)
    limited = "rate limit" in message.lower() or retry_after is not None
    if not limited:
        return Reading(remaining, reset, 0.0, False)  # a refusal of another kind
    wait = retry_after if retry_after is not None else SECONDARY_DEFAULT_WAIT
    return Reading(remaining, reset, max(0.0, wait), True)


def wait_before_next(
    now: float, paused_until: float, remaining: int | None, *, reset: float | None
) -> float:
    """Seconds to wait before the next request: while a pause stands, or until the reset
    once the primary budget is spent."""
    wait = paused_until - now
    if remaining is not None and remaining <= 0 and reset is not None:
        wait = max(wait, reset - now)
    return max(0.0, wait)
