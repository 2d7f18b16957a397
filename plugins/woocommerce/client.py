"""The REST client of one WooCommerce site: authentication, shared rate limit, timeouts.

Authentication follows the configured URL (``auth = "auto"``): over ``https://`` the
consumer key and secret go as HTTP Basic credentials; over plain ``http://`` WooCommerce
refuses Basic, so every request is signed with OAuth 1.0a one-legged
(:class:`~crmhub.core.http.OAuth1QueryAuth`: ``oauth_*`` parameters in the query, HMAC-SHA256
keyed ``consumer_secret&``, 15-minute timestamp window). ``auth = "basic"`` or ``"oauth1"``
overrides the choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from crmhub.core.errors import TransientRemoteError
from crmhub.core.http import ApiClient, OAuth1QueryAuth, RetryPolicy, TokenBucket, rate_limiter
from crmhub.core.http.retry import RETRY_STATUSES

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.woocommerce.settings import WooCommerceSettings

#: WordPress answers some overloads with 500 pages; 520-524 come from CDNs in front of it.
WOO_RETRY = RetryPolicy(retry_statuses=RETRY_STATUSES | {520, 521, 522, 523, 524})
#: ``crmhub plugins`` must not hang on a site that is down.
QUICK_RETRY = RetryPolicy(max_attempts=2, max_total_wait=5.0)


def woo_client(
    hub: Hub,
    instance: Instance[WooCommerceSettings],
    *,
    retry: RetryPolicy = WOO_RETRY,
    timeout: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ApiClient:
    """An :class:`ApiClient` on ``<url>/wp-json/wc/v3/`` with the instance's credentials.

    :param retry: the retry policy (``QUICK_RETRY`` for interactive checks).
    :param timeout: seconds per response; default the instance's ``timeout``.
    :param transport: an httpx transport, for byte-level tests.
    """
    settings = instance.settings
    key = settings.consumer_key.get_secret_value()
    secret = settings.consumer_secret.get_secret_value()
    auth: httpx.Auth | tuple[str, str] = (
        (key, secret) if settings.uses_basic_auth else OAuth1QueryAuth(key, secret)
    )
    limiter = None
    if settings.max_requests_per_second > 0:
        rate = settings.max_requests_per_second
        limiter = rate_limiter(
            hub,
            f"woocommerce:{settings.url.host}:{settings.url.port}{settings.url.path or ''}",
            {"requests": TokenBucket(capacity=max(1.0, rate), refill_per_second=rate)},
        )
    return ApiClient(
        settings.api_url,
        auth=auth,
        transport=transport,
        timeout=timeout or settings.timeout,
        limiter=limiter,
        retry=retry,
        instance=instance.id,
    )


def total_of(response: httpx.Response) -> int | None:
    """``X-WP-Total`` of a list response, when present."""
    try:
        return int(response.headers["X-WP-Total"])
    except (KeyError, ValueError):
        return None


def json_list(client: ApiClient, response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON array of a list response (a WordPress error page is a transient error)."""
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientRemoteError(
            f"GET {response.request.url.path}: response is not JSON",
            request=response.request,
            response=response,
            instance=client.instance,
        ) from exc
    if not isinstance(body, list):
        raise TransientRemoteError(
            f"GET {response.request.url.path}: expected a JSON array",
            request=response.request,
            response=response,
            instance=client.instance,
        )
    return [item for item in body if isinstance(item, dict)]
