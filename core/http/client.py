"""ApiClient: the one synchronous HTTP client every plugin uses.

One request goes through these steps, attempt after attempt::

    limiter.acquire(cost)          wait for room under every rate-limit policy (shared)
    httpx send                     timeout or dropped connection -> transient, retried
    limiter.settle(cost)           the request is no longer in flight
    limiter.observe_response(r)    rate-limit headers adapt the shared limiter
    2xx/3xx                        returned
    401/403                        RemoteAuthError, at once
    429                            shared pause for Retry-After (or back-off), retried
    500/502/503/504                back-off with full jitter, retried
    other 4xx                      PermanentRemoteError, at once

When retries run out (:class:`~crmhub.core.http.RetryPolicy`) the last error is raised:
:class:`~crmhub.core.errors.RateLimited` or :class:`~crmhub.core.errors.TransientRemoteError`
with ``retry_after`` set, so the job layer can reschedule the job. Messages name the method,
the URL path (never the query string) and the status, with a short body excerpt, all passed
through :func:`~crmhub.core.errors.redact`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Self

import httpx
from crmhub.core.errors import (
    PermanentRemoteError,
    RateLimited,
    RemoteAuthError,
    TransientRemoteError,
    redact,
    register_secret,
)
from crmhub.core.http.ratelimit import RateLimiter
from crmhub.core.http.retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("crmhub.http")

_SECRET_NAME_WORDS = ("authorization", "token", "secret", "key", "password", "cookie")


def _looks_secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_NAME_WORDS)


def _version() -> str:
    try:
        return metadata.version("crmhub")
    except metadata.PackageNotFoundError:
        return "0"


DEFAULT_USER_AGENT = f"crmhub/{_version()}"
DEFAULT_RETRY = RetryPolicy()


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):  # undecodable body: the status says enough
        return ""
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


class ApiClient:
    """A synchronous HTTP client with shared rate limiting, retries and typed errors.

    :param base_url: the API root; request paths are relative to it.
    :param transport: an httpx transport (tests pass loopback or mock transports).
    :param auth: httpx auth (e.g. :class:`~crmhub.core.http.OAuth1QueryAuth`, a tuple).
    :param headers: sent with every request; values of credential-looking headers (and of
        credential-looking query parameters of each request) are registered as secrets, so
        they never appear in a message.
    :param timeout: seconds, or an :class:`httpx.Timeout`.
    :param limiter: the (shared) rate limiter of this remote account.
    :param retry: the retry policy.
    :param instance: the crmhub instance name carried by every error (``shopify.main``).
    :param user_agent: the ``User-Agent`` header.
    :param sleep: how to wait between retries (injectable for tests).
    :param clock: the current Unix time, to read ``Retry-After`` dates.
    :param rand: uniform numbers in ``[0, 1)`` for the back-off jitter.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 30,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        instance: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        all_headers = {"User-Agent": user_agent, **(headers or {})}
        for name, value in all_headers.items():
            if _looks_secret(name):
                register_secret(value)
                register_secret(value.partition(" ")[2])  # "Bearer <token>"
        if isinstance(auth, tuple):
            register_secret(auth[1])
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            auth=auth,
            headers=all_headers,
            timeout=timeout,
        )
        self.limiter = limiter
        self.retry = retry
        self.instance = instance
        self._sleep = sleep
        self._clock = clock
        self._rand = rand

    @property
    def base_url(self) -> httpx.URL:
        """The API root every relative path is joined to."""
        return self._http.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        cost: float = 1,
    ) -> Any:
        """GET ``url`` and return the parsed JSON body.

        :raises TransientRemoteError: the body is not JSON (a proxy's error page, say).
        """
        response = self.request("GET", url, params=params, headers=headers, cost=cost)
        try:
            return response.json()
        except ValueError as exc:
            raise TransientRemoteError(
                self._describe(response.request, response, "response is not JSON"),
                request=response.request,
                response=response,
                instance=self.instance,
            ) from exc

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        cost: float = 1,
        limiter: RateLimiter | None = None,
    ) -> httpx.Response:
        """Send one request with rate limiting and retries; return a 2xx/3xx response.

        :param url: a path relative to ``base_url``, or an absolute URL (a next-page link).
        :param cost: rate-limit units this request uses.
        :param limiter: use this limiter instead of the client's (e.g. ``limiter.extend(...)``
            for an endpoint with its own extra limit).
        :raises RemoteAuthError: 401 or 403.
        :raises PermanentRemoteError: another 4xx.
        :raises RateLimited: 429 after the retries ran out, or the shared limiter is paused
            for longer than ``retry.max_total_wait`` (``retry_after`` says how long).
        :raises TransientRemoteError: 5xx, timeout or connection error after the retries.
        """
        for name, value in [*(params or {}).items(), *(headers or {}).items()]:
            if _looks_secret(str(name)):  # e.g. ?access_token=: keep it out of every message
                register_secret(str(value))
        limiter = limiter or self.limiter
        policy = self.retry
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                method, url, params=params, json=json, content=content, headers=headers
            )
            if limiter is not None:
                limiter.acquire(cost, max_wait=policy.max_total_wait)
            try:
                outcome = self._send(request)
            finally:
                if limiter is not None:
                    limiter.settle(cost)
            if isinstance(outcome, httpx.Response):
                if limiter is not None:
                    limiter.observe_response(outcome)
                outcome = self._classify(request, outcome)
                if isinstance(outcome, httpx.Response):
                    return outcome
            error = outcome
            delay = error.retry_after
            if delay is None:
                delay = policy.backoff(attempt, self._rand)
            shared_pause = False
            if limiter is not None and isinstance(error, RateLimited):
                shared_pause = True
                limiter.pause(delay)  # every worker of this account waits, even if we give up
            if attempt >= policy.max_attempts or waited + delay > policy.max_total_wait:
                error.retry_after = delay
                raise error
            logger.debug("retrying in %.2fs after attempt %d: %s", delay, attempt, error)
            waited += delay
            if not shared_pause:
                self._sleep(delay)  # with a shared pause, the next acquire() does the waiting

    def _send(self, request: httpx.Request) -> httpx.Response | TransientRemoteError:
        """Send once: the response, or a retryable error for a timeout or lost connection."""
        try:
            response = self._http.send(request)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
            message = self._describe(request, None, f"{kind} ({type(exc).__name__})")
            logger.debug("%s", message)
            return TransientRemoteError(message, request=request, instance=self.instance)
        except httpx.TransportError as exc:
            message = self._describe(request, None, f"{type(exc).__name__}: {exc}")
            raise PermanentRemoteError(message, request=request, instance=self.instance) from exc
        logger.debug("%s %s -> %d", request.method, redact(str(request.url)), response.status_code)
        return response

    def _classify(
        self, request: httpx.Request, response: httpx.Response
    ) -> httpx.Response | TransientRemoteError:
        """Return a usable response or a retryable error; raise the permanent ones."""
        status = response.status_code
        if status < 400:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
        context: dict[str, Any] = {
            "request": request,
            "response": response,
            "instance": self.instance,
        }
        message = self._describe(request, response, _excerpt(response))
        if status in (401, 403):
            raise RemoteAuthError(message, **context)
        if status == 429:
            return RateLimited(message, retry_after=retry_after, **context)
        if status in self.retry.retry_statuses:
            return TransientRemoteError(message, retry_after=retry_after, **context)
        if status >= 500:
            raise TransientRemoteError(message, retry_after=retry_after, **context)
        raise PermanentRemoteError(message, **context)

    def _describe(
        self, request: httpx.Request, response: httpx.Response | None, detail: str
    ) -> str:
        where = f"{request.method} {request.url.path}"
        status = f" -> {response.status_code}" if response is not None else ""
        prefix = f"[{self.instance}] " if self.instance else ""
        text = f"{prefix}{where}{status}: {detail}" if detail else f"{prefix}{where}{status}"
        return str(redact(text))
