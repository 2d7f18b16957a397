"""What an email instance needs at run time, built once per hub: its settings, compiled
templates, token signer and message composer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import NotFound
from crmhub.plugins.email.compose import Composer
from crmhub.plugins.email.settings import CampaignSettings, EmailSettings, FlowSettings
from crmhub.plugins.email.templates import TemplateSet
from crmhub.plugins.email.tokens import TokenSigner

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance

PLUGIN = "email"


@dataclass
class EmailRuntime:
    """One email instance, ready to compose messages."""

    id: str
    settings: EmailSettings
    templates: TemplateSet
    signer: TokenSigner
    composer: Composer

    def step(self, kind: str, name: str) -> CampaignSettings | FlowSettings:
        """The campaign or flow ``name``.

        :raises NotFound: it is not (or no longer) configured.
        """
        table: dict[str, Any] = self.settings.campaigns if kind == "campaign" else self.settings.flows
        if name not in table:
            raise NotFound(f"{self.id} has no {kind} named {name!r}")
        step: CampaignSettings | FlowSettings = table[name]
        return step


def _build(hub: Hub, instance: Instance[EmailSettings]) -> EmailRuntime:
    config = hub.settings.config_path
    base = config.parent if config is not None else Path.cwd()
    signer = TokenSigner(hub.secret_key)
    return EmailRuntime(
        id=instance.id,
        settings=instance.settings,
        templates=TemplateSet(instance.settings, base=base, prefix=f"plugins.{instance.id}"),
        signer=signer,
        composer=Composer(instance=instance.id, settings=instance.settings, signer=signer,
                          public_url=hub.settings.hub.public_url),
    )


def runtime(hub: Hub, instance_id: str) -> EmailRuntime:
    """The runtime of an email instance (built on first use).

    :raises NotFound: no such enabled email instance.
    """
    instance = hub.instance(instance_id)
    if instance.plugin != PLUGIN:
        raise NotFound(f"{instance_id!r} is not an email instance")
    return hub.service(f"email.runtime.{instance_id}", lambda built: _build(built, instance))  # type: ignore[no-any-return]


def instances(hub: Hub) -> list[EmailRuntime]:
    """Runtimes of every enabled email instance."""
    return [runtime(hub, instance.id) for instance in hub.enabled_instances(PLUGIN)]


def find_step(hub: Hub, name: str, instance_id: str | None = None) -> tuple[EmailRuntime, str, CampaignSettings | FlowSettings]:
    """The instance, kind and settings of the campaign or flow ``name``.

    :raises NotFound: no instance defines it, or several do and none was named.
    """
    if instance_id and "." not in instance_id:
        instance_id = f"{PLUGIN}.{instance_id}"
    candidates = [runtime(hub, instance_id)] if instance_id else instances(hub)
    found = [(rt, *hit) for rt in candidates if (hit := rt.settings.audience(name)) is not None]
    if not found:
        raise NotFound(f"no email campaign or flow named {name!r}")
    if len(found) > 1:
        names = ", ".join(rt.id for rt, _, _ in found)
        raise NotFound(f"{name!r} is defined by several email instances ({names}): name one with --instance")
    return found[0]
