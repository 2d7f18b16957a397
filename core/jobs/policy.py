"""The retry policy: which failures are retried, and how long to wait.

- ``transient`` errors (remote 429/5xx/timeouts, :class:`TransientRemoteError`, dropped
  database or broker connections, deadlocks and unique-key races between concurrent
  upserts) are retried with exponential back-off and full jitter: attempt *n* waits a
  random time in ``[0, min(retry_max, retry_base * 2**(n-1))]``, and never less than a
  remote's ``Retry-After`` (``TransientRemoteError.retry_after``), which is honoured even
  beyond ``retry_max``.
- ``config``, ``input`` and ``permanent`` errors fail at once: retrying cannot help, the
  job is a dead letter until someone fixes the cause and retries it.
- Anything else is a ``bug``: it is retried like a transient error (it may be passing
  trouble crmhub does not recognise) but at most :data:`BUG_ATTEMPTS` times, so a real
  bug becomes visible quickly.

A job that runs out of attempts is kept with status ``failed`` (a dead letter), its last
error redacted, visible in ``crmhub jobs --status failed`` and ``GET /api/v1/jobs``.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from crmhub.core.errors import ErrorKind, error_kind, redact
from crmhub.core.settings import JobSettings

BUG_ATTEMPTS = 3
MAX_ERROR_LENGTH = 4000


@dataclass(frozen=True)
class Failure:
    """A classified job failure."""

    kind: ErrorKind
    message: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed."""
        return self.kind in ("transient", "bug")


def _is_transient_infrastructure(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        redis = None  # type: ignore[assignment]
    if isinstance(exc, (OperationalError, IntegrityError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return redis is not None and isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


def classify(exc: BaseException) -> Failure:
    """Classify an exception raised by a job (see the module docstring)."""
    kind = error_kind(exc)
    if kind == "bug" and _is_transient_infrastructure(exc):
        kind = "transient"
    retry_after = getattr(exc, "retry_after", None) if kind == "transient" else None
    return Failure(kind=kind, message=describe(exc), retry_after=_seconds(retry_after))


def _seconds(value: object) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def describe(exc: BaseException) -> str:
    """A redacted one-paragraph description of ``exc``: type, message and, for bugs,
    where it was raised."""
    text = f"{type(exc).__name__}: {exc}"
    if error_kind(exc) == "bug" and exc.__traceback__ is not None:
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
        text += f" (at {where})"
    return redact(text)[:MAX_ERROR_LENGTH]


def attempts_allowed(failure: Failure, max_attempts: int) -> int:
    """How many attempts a job failing this way gets in all."""
    if not failure.retryable:
        return 0
    return min(max_attempts, BUG_ATTEMPTS) if failure.kind == "bug" else max_attempts


def backoff(
    attempt: int,
    settings: JobSettings,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: full jitter over an exponentially
    growing cap, at least ``retry_after``."""
    cap = min(settings.retry_max, settings.retry_base * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, cap)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
