"""State shared by every command: the config file, and a hub built on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from crmhub.core.hub import Hub, create_hub
from crmhub.core.settings import Settings, load_settings


@dataclass
class CliContext:
    """Built by the root callback; commands get it from ``ctx.obj``."""

    config: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _hub: Hub | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """The configuration (read once)."""
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def hub(self, **kwargs: Any) -> Hub:
        """The hub (built once)."""
        if self._hub is None:
            self._hub = create_hub(self.settings(), **kwargs)
        return self._hub

    def close(self) -> None:
        """Release the hub."""
        if self._hub is not None:
            self._hub.close()


def cli_context(ctx: typer.Context) -> CliContext:
    """The CliContext of the running command."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = CliContext()
    return root.obj
