"""Webhook health: WooCommerce never retries a delivery and disables a webhook after
repeated failures, so the plugin watches its subscriptions.

The subscriptions that belong to an instance are the site's webhooks whose delivery URL is
the instance's (``webhook_url``, default ``<[hub] public_url>/webhooks/woocommerce/<instance>``).
:func:`check_webhooks` lists them (``GET /webhooks``); each sync calls it for its resource
and, with ``reenable_webhooks``, sets ``disabled`` ones back to ``active``
(``PUT /webhooks/{id}``). ``paused`` ones were paused by an admin and are only reported.
:func:`health_problems` turns a check into what ``crmhub plugins`` and the API show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import RemoteError
from crmhub.core.http import ApiClient, PageNumberPaginator

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.woocommerce.settings import WooCommerceSettings

#: The topics an instance needs, per resource.
TOPICS: dict[str, tuple[str, ...]] = {
    "customer": ("customer.created", "customer.updated", "customer.deleted"),
    "order": ("order.created", "order.updated", "order.deleted"),
}


def delivery_url(hub: Hub, instance: Instance[WooCommerceSettings]) -> str:
    """Where this instance's webhooks must be delivered."""
    configured = instance.settings.webhook_url
    if configured:
        return configured
    return f"{hub.settings.hub.public_url.rstrip('/')}/webhooks/woocommerce/{instance.name}"


def _same_url(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        scheme, _, rest = url.strip().partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")

    return norm(a) == norm(b)


@dataclass(frozen=True)
class Subscription:
    """One of the site's webhooks that delivers to this instance."""

    id: int
    topic: str
    status: str

    @property
    def resource(self) -> str:
        """``order`` of ``order.updated``."""
        return self.topic.partition(".")[0]


@dataclass
class WebhookCheck:
    """What one check found: subscriptions (after any re-enabling), the ones found
    inactive, the ones re-enabled, and required topics with no subscription."""

    subscriptions: list[Subscription] = field(default_factory=list)
    inactive: list[Subscription] = field(default_factory=list)
    reenabled: list[Subscription] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Every subscription is active now (none missing is not required)."""
        return all(s.status == "active" for s in self.subscriptions)


def list_subscriptions(client: ApiClient, url: str) -> list[Subscription]:
    """The site's webhooks that deliver to ``url``."""
    found = []
    for page in PageNumberPaginator(per_page=100).pages(client, "webhooks"):
        for hook in page.items:
            if not isinstance(hook, dict) or not str(hook.get("id", "")).isdigit():
                continue
            if _same_url(str(hook.get("delivery_url", "")), url):
                topic, status = str(hook.get("topic", "")), str(hook.get("status", ""))
                found.append(Subscription(int(hook["id"]), topic, status))
    return found


def check_webhooks(
    client: ApiClient, url: str, resources: Iterable[str], *, reenable: bool
) -> WebhookCheck:
    """Check the subscriptions of ``resources`` (``order``, ``customer``) that deliver to
    ``url``; set disabled ones back to active when ``reenable``."""
    wanted = set(resources)
    check = WebhookCheck()
    for sub in list_subscriptions(client, url):
        if sub.resource not in wanted:
            continue
        if sub.status != "active":
            check.inactive.append(sub)
            if reenable and sub.status == "disabled":
                try:
                    client.request("PUT", f"webhooks/{sub.id}", json={"status": "active"})
                except RemoteError as exc:  # e.g. a read-only key
                    check.errors.append(f"cannot re-enable webhook {sub.id}: {exc.message}")
                else:
                    check.reenabled.append(sub)
                    sub = Subscription(sub.id, sub.topic, "active")
        check.subscriptions.append(sub)
    topics = {s.topic for s in check.subscriptions}
    check.missing = [t for r in sorted(wanted) for t in TOPICS.get(r, ()) if t not in topics]
    return check


def health_problems(check: WebhookCheck, url: str, *, reenable: bool) -> list[dict[str, Any]]:
    """Problems of a check (made without re-enabling), as ``crmhub_instance_health`` returns them."""
    problems: list[dict[str, Any]] = []
    for sub in check.inactive:
        if sub.status == "disabled":
            then = (
                "the next sync re-enables it and re-reads what it missed"
                if reenable
                else "re-enable it under WooCommerce > Settings > Advanced > Webhooks"
            )
            problems.append(
                {
                    "level": "error",
                    "message": f"webhook {sub.id} ({sub.topic}) is disabled: WooCommerce stopped "
                    f"delivering after repeated failed deliveries (is webhook_secret right and {url} "
                    f"reachable?); {then}",
                }
            )
        else:
            problems.append(
                {
                    "level": "warning",
                    "message": f"webhook {sub.id} ({sub.topic}) is {sub.status}: changes arrive "
                    "only with syncs until it is active again",
                }
            )
    if len(check.missing) == sum(len(t) for t in TOPICS.values()):
        problems.append(
            {
                "level": "warning",
                "message": f"no WooCommerce webhook delivers to {url}: changes arrive only with "
                "syncs, and customer profile edits only with the periodic full pass",
            }
        )
    elif check.missing:
        problems.append(
            {
                "level": "warning",
                "message": f"no webhook for {', '.join(check.missing)} delivers to {url}",
            }
        )
    return problems
