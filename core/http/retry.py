"""Retry policy: which failures to retry, how long to back off, when to give up.

The client retries transient failures (429, 500/502/503/504, timeouts, dropped
connections) with exponential back-off and *full jitter*: the n-th wait is drawn uniformly
from ``[0, min(max_delay, base_delay * 2 ** (n - 1))]``. A ``Retry-After`` header, when the
server sends one, replaces the drawn wait. Once ``max_attempts`` are used up, or the next
wait would push the total past ``max_total_wait``, the last error is raised so that the job
layer can reschedule the whole job (its ``retry_after`` says when).
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

#: Statuses retried inside the client. Other 5xx are raised at once as transient errors.
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How :class:`~crmhub.core.http.ApiClient` retries transient failures.

    :param max_attempts: attempts in total, the first one included (1 disables retries).
    :param base_delay: the back-off cap of the first retry, in seconds; it doubles per retry.
    :param max_delay: the largest single back-off, in seconds.
    :param max_total_wait: the most the client waits for retries of one request, in seconds;
        waits imposed by the rate limiter do not count.
    :param retry_statuses: HTTP statuses that are retried.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Return the full-jitter wait after failed attempt number ``attempt`` (1-based).

        :param attempt: the attempt that just failed, 1 for the first.
        :param rand: a source of uniform numbers in ``[0, 1)``, injectable for tests.
        :returns: seconds to wait before the next attempt.
        """
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return float(cap * rand())


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds (``"2"``, ``"2.0"``) or an HTTP-date.

    :param value: the header value, or ``None`` when absent.
    :param now: the current time as a Unix timestamp, to turn a date into a delay.
    :returns: the delay in seconds (never negative), or ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" dates: HTTP-dates are always UTC
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
