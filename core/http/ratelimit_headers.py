"""Header policies: read a server's rate-limit headers and tell the limiter.

Each policy is one small class with one method, ``observe(response, limiter)``, called by
:class:`~crmhub.core.http.ApiClient` after every response (429s included):

* :class:`NoRateLimitHeaders` -- the default; the limiter runs on its configuration alone.
* :class:`ShopifyCallLimitHeader` -- ``X-Shopify-Shop-Api-Call-Limit: 32/40``: a leaky
  bucket's fill and capacity.
* :class:`HubSpotRateLimitHeaders` -- ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and
  ``-Interval-Milliseconds``: what is left of a rolling window.

Each also offers ``starting_policy()``: a policy with ``learn=True`` whose numbers are only
the starting guess, replaced by the first header.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from crmhub.core.http.ratelimit_policies import SlidingWindow, TokenBucket

if TYPE_CHECKING:
    import httpx
    from crmhub.core.http.ratelimit import RateLimiter

logger = logging.getLogger("crmhub.http.ratelimit")


class HeaderPolicy(Protocol):
    """Reads one server's rate-limit headers."""

    def observe(self, response: httpx.Response, limiter: RateLimiter) -> None:
        """Report what ``response`` says about the remote's budget to ``limiter``."""


class NoRateLimitHeaders:
    """The server sends no usable rate-limit headers: observe nothing."""

    def observe(self, response: httpx.Response, limiter: RateLimiter) -> None:
        """Do nothing."""


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


class ShopifyCallLimitHeader:
    """Shopify REST: ``X-Shopify-Shop-Api-Call-Limit: <used>/<capacity>``.

    The capacity comes from the header (40, 80, ...); the leak rate is estimated by the
    limiter from successive headers. A 429 reports a full bucket but its request was not
    counted, so it is observed with cost 0.

    :param policy: name of the limiter's :class:`TokenBucket` (may be omitted if only one).
    """

    header = "X-Shopify-Shop-Api-Call-Limit"

    def __init__(self, policy: str | None = None) -> None:
        self.policy = policy

    @staticmethod
    def starting_policy(*, safety_margin: float = 0.1, learn_interval: float = 2.0) -> TokenBucket:
        """A learning bucket starting from Shopify's smallest plan (40, leaking 2/s)."""
        return TokenBucket(
            40, 2.0, safety_margin=safety_margin, learn=True, learn_interval=learn_interval
        )

    def observe(self, response: httpx.Response, limiter: RateLimiter) -> None:
        """Parse ``used/capacity`` and report it; ignore a missing or garbled header."""
        value = response.headers.get(self.header)
        if not value or "/" not in value:
            return
        used_text, _, capacity_text = value.partition("/")
        used, capacity = _number(used_text), _number(capacity_text)
        if used is None or capacity is None or capacity <= 0:
            logger.debug("ignoring unreadable %s: %r", self.header, value)
            return
        cost = 0.0 if response.status_code == 429 else 1.0
        limiter.observe(used, capacity, policy=self.policy, cost=cost)


class HubSpotRateLimitHeaders:
    """HubSpot: ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds``.

    Responses without the headers (search responses may lack them) are ignored.

    :param policy: name of the limiter's :class:`SlidingWindow` (may be omitted if only one).
    """

    prefix = "X-HubSpot-RateLimit-"

    def __init__(self, policy: str | None = None) -> None:
        self.policy = policy

    @staticmethod
    def starting_policy(*, safety_margin: float = 0.05) -> SlidingWindow:
        """A learning window starting from HubSpot's smallest tier (100 per 10 s)."""
        return SlidingWindow(100, 10.0, safety_margin=safety_margin, learn=True)

    def observe(self, response: httpx.Response, limiter: RateLimiter) -> None:
        """Report ``Remaining`` of ``Max`` in ``Interval-Milliseconds``, when all are present."""
        headers = response.headers
        limit = _number(headers.get(self.prefix + "Max"))
        remaining = _number(headers.get(self.prefix + "Remaining"))
        interval_ms = _number(headers.get(self.prefix + "Interval-Milliseconds"))
        if limit is None or remaining is None or interval_ms is None or interval_ms <= 0:
            return
        limiter.observe_remaining(remaining, limit, interval_ms / 1000.0, policy=self.policy)
