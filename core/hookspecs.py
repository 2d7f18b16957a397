"""Hook specifications of crmhub (pluggy project name ``crmhub``).

A plugin is a module (or object) whose functions are marked with
``crmhub.core.plugins.hookimpl`` and whose name matches a spec below. Implementations may
take fewer arguments than the spec, so hooks can grow without breaking plugins. Every hook
documented here is also described in ``docs/hooks.md`` (a test checks it).

Hooks that concern one instance (``source``, ``webhook``, ``scorer``, ``destination``) are
called on the plugin that owns the instance only; the others are called on every plugin.
Nothing but :class:`crmhub.core.plugins.PluginHooks` calls ``pm.hook``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import fastapi
    import typer

    from crmhub.core.destinations import Destination
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance, InstanceSettings
    from crmhub.core.models import WebhookEvent
    from crmhub.core.records import CanonicalRecord
    from crmhub.core.sources import Stream
    from crmhub.core.webhooks import WebhookDelivery, WebhookRequest

PROJECT = "crmhub"

hookspec = pluggy.HookspecMarker(PROJECT)


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crmhub_plugin_settings() -> type[InstanceSettings]:
    """Declare the settings model of the plugin's instances.

    Called once per plugin when the configuration is validated. The model subclasses
    :class:`crmhub.core.instances.InstanceSettings`; every field has a
    ``Field(description=…)``; secrets are ``SecretStr``.

    :returns: the pydantic model class that validates ``[plugins.<plugin>.<instance>]``.

    Stops at the first non-None result. Called on the owning plugin only.
    """


@hookspec
def crmhub_register_migrations() -> str | None:
    """Give the folder of the plugin's own alembic revisions, for plugins with tables.

    Called when the database is upgraded (``crmhub db upgrade`` and on first start).
    The revisions form a branch that ``depends_on`` crmhub's core head.

    :returns: an absolute path to a folder of alembic revision files, or None.
    """


@hookspec
def crmhub_register_jobs(hub: Hub) -> dict[str, Any] | None:
    """Register job functions of the plugin, run by the job layer's workers.

    Called once when a hub is created.

    :param hub: the hub.
    :returns: job name → callable ``fn(hub, **args)`` (or a
        :class:`crmhub.core.jobs.JobSpec` to choose its queue); names are prefixed by the
        plugin (``email.send``). Jobs must be idempotent.
    """


# ---------------------------------------------------------------------------
# Source
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crmhub_source_streams(hub: Hub, instance: Instance[Any]) -> list[Stream[Any]] | None:
    """Give the streams an instance can sync (``customers``, ``orders``, ``contacts``…).

    Called by the sync runner (``crmhub sync``, the scheduler, ``POST /api/v1/syncs/…``)
    and by ``crmhub plugins``.

    :param hub: the hub (settings, limiter factory, clock).
    :param instance: the instance to read from, with its validated settings.
    :returns: the instance's streams, in the order a full sync should run them.

    Stops at the first non-None result. Called on the owning plugin only.
    """


# ---------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crmhub_webhook_verify(
    hub: Hub, instance: Instance[Any], request: WebhookRequest
) -> WebhookDelivery | None:
    """Verify a webhook delivery from its raw body and headers.

    Called by ``POST /webhooks/{plugin}/{instance}`` before anything is stored. Compare
    signatures in constant time (``hmac.compare_digest``) and refuse stale timestamps
    where the sender sends one.

    :param hub: the hub.
    :param instance: the instance the URL names.
    :param request: method, public URL, lower-cased headers, raw body, receive time.
    :returns: the delivery's id, topic and time (``store=False`` for pings that need
        only a 200).
    :raises WebhookRejected: bad or missing signature, stale timestamp (→ 401).
    :raises WebhookMalformed: a body that cannot be read (→ 400).

    Stops at the first non-None result. Called on the owning plugin only.
    """


@hookspec(firstresult=True)
def crmhub_webhook_process(
    hub: Hub, instance: Instance[Any], event: WebhookEvent
) -> list[CanonicalRecord] | None:
    """Turn a stored delivery into canonical records.

    Called by a worker for each inbox event, once per delivery id; the returned records
    are ingested in the same transaction that marks the event done. A plugin may also
    act through ``hub`` (e.g. erase a customer for a privacy webhook).

    :param hub: the hub.
    :param instance: the instance that received it.
    :param event: the stored delivery (``topic``, ``headers``, raw ``body``).
    :returns: records to ingest (possibly empty).

    Stops at the first non-None result. Called on the owning plugin only.
    """


# ---------------------------------------------------------------------------
# Scorer
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crmhub_score_customers(
    hub: Hub, instance: Instance[Any], as_of: datetime
) -> dict[str, Any] | None:
    """Compute and store scores for every customer as of a moment.

    Called by ``crmhub score``, the scoring job after syncs, and the API.

    :param hub: the hub.
    :param instance: the scorer instance (its settings hold horizons, bins…).
    :param as_of: score as of this time; orders after it are ignored.
    :returns: a summary (``customers_scored``, ``time_unit``, fitted ``models``…).

    Stops at the first non-None result. Called on the owning plugin only.
    """


# ---------------------------------------------------------------------------
# Destination
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crmhub_destination(hub: Hub, instance: Instance[Any]) -> Destination | None:
    """Give the destination object that pushes segment changes to an instance.

    Called by the segment push (``crmhub segments push``, the push job) and by erasure
    propagation.

    :param hub: the hub.
    :param instance: the destination instance.
    :returns: a :class:`crmhub.core.destinations.Destination`.

    Stops at the first non-None result. Called on the owning plugin only.
    """


# ---------------------------------------------------------------------------
# Listeners (called on every plugin; return values are ignored)
# ---------------------------------------------------------------------------


@hookspec
def crmhub_on_customers_upserted(hub: Hub, customer_ids: list[int], source: str) -> None:
    """React to customers created or changed by an ingest.

    Called after the ingest's transaction committed.

    :param hub: the hub.
    :param customer_ids: customers created or changed.
    :param source: the instance the records came from (``import.default`` for imports).
    """


@hookspec
def crmhub_on_customers_merged(
    hub: Hub, survivor_id: int, merged_id: int, reason: str
) -> None:
    """React to two customers becoming one.

    Called after the merge committed.

    :param hub: the hub.
    :param survivor_id: the customer that remains.
    :param merged_id: the customer merged into it (kept as a merged tombstone).
    :param reason: why (``same email a@b.com``, ``HubSpot merge``…).
    """


@hookspec
def crmhub_on_customer_erased(hub: Hub, customer_id: int, destinations: list[str]) -> None:
    """React to a customer's erasure (GDPR) — e.g. remove them from a remote system.

    Called by the erasure-propagation job after the customer's personal data was removed
    from the hub. Destinations find their remote ids in their push state.

    :param hub: the hub.
    :param customer_id: the erased customer (no personal data remains).
    :param destinations: instances that had received the customer.
    """


@hookspec
def crmhub_on_orders_upserted(hub: Hub, order_ids: list[int], created_ids: list[int]) -> None:
    """React to orders placed or changed.

    Called after the ingest's transaction committed.

    :param hub: the hub.
    :param order_ids: orders created or changed.
    :param created_ids: the subset that is new to the hub ("order placed").
    """


@hookspec
def crmhub_on_consent_changed(
    hub: Hub, customer_id: int, channel: str, granted: bool, source: str
) -> None:
    """React to a consent being granted or withdrawn (e.g. an unsubscribe).

    Called after the change committed.

    :param hub: the hub.
    :param customer_id: the customer.
    :param channel: ``email`` or ``sms``.
    :param granted: the new state.
    :param source: who changed it (an instance, ``api`` or ``unsubscribe``).
    """


@hookspec
def crmhub_on_segment_changed(
    hub: Hub, segment: str, entered: list[int], exited: list[int]
) -> None:
    """React to a segment refresh that changed membership (e.g. start an email flow).

    Called after the refresh committed. Large changes arrive in several calls of at most
    10,000 ids each (entered and exited in separate calls), so memory stays flat.

    :param hub: the hub.
    :param segment: the segment's name.
    :param entered: customers who entered.
    :param exited: customers who exited.
    """


@hookspec
def crmhub_on_sync_finished(hub: Hub, instance: Instance[Any], stream: str, run: Any) -> None:
    """React to the end of a sync run (succeeded, completed with gaps or failed).

    :param hub: the hub.
    :param instance: the instance synced.
    :param stream: the stream's name.
    :param run: the :class:`crmhub.core.models.SyncRun` record.
    """


# ---------------------------------------------------------------------------
# Extensions
# ---------------------------------------------------------------------------


@hookspec
def crmhub_register_routes(hub: Hub, app: fastapi.FastAPI) -> None:
    """Add HTTP routes (e.g. an unsubscribe endpoint) to the hub's FastAPI app.

    Called once by ``create_app``. Routes under ``/api/v1`` must depend on
    ``crmhub.core.api.deps.require_api_key``.

    :param hub: the hub.
    :param app: the FastAPI application.
    """


@hookspec
def crmhub_register_commands(cli: typer.Typer) -> None:
    """Add CLI commands or command groups (e.g. ``crmhub email …``).

    Called once when the ``crmhub`` command starts.

    :param cli: the root typer application.
    """


@hookspec
def crmhub_dashboard_panels(hub: Hub) -> list[dict[str, Any]] | None:
    """Add panels to the dashboard's overview page.

    :param hub: the hub.
    :returns: panels ``{"title": str, "html": str}`` (the HTML is escaped unless marked safe).
    """


@hookspec
def crmhub_instance_health(hub: Hub, instance: Instance[Any]) -> list[dict[str, Any]] | None:
    """Report problems of an instance that ``crmhub plugins`` and the API should show
    (e.g. a disabled webhook subscription).

    :param hub: the hub.
    :param instance: one of the plugin's instances.
    :returns: problems ``{"level": "warning"|"error", "message": str}``; empty when healthy.

    Called on the owning plugin only.
    """
