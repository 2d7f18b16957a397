"""Fixtures of the job-layer tests: hubs with the testsource plugin and fast job timings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from crmhub.core.hub import Hub, create_hub
from crmhub.core.plugins import load_plugins
from crmhub.core.settings import load_settings
from tests.core.jobs.support import rows, write_source

#: Job timings short enough for tests (seconds).
FAST_JOBS = {
    "heartbeat_interval": 0.2,
    "visibility_timeout": 2.0,
    "redeliver_after": 2.0,
    "relay_interval": 0.05,
    "leader_ttl": 2.0,
    "sync_lease_ttl": 2.0,
    "retry_base": 0.05,
    "retry_max": 0.2,
    "followup_delay": 0,
    "shutdown_timeout": 5.0,
}


TESTSOURCE = Path(__file__).resolve().parents[2] / "support" / "crmhub-testsource"


@pytest.fixture(scope="session", autouse=True)
def _testsource_installed() -> None:
    """The job-layer tests sync from the testsource plugin, installed as any plugin is."""
    if not entry_points(group="crmhub.plugins", name="testsource"):
        pytest.fail(f"the test source plugin is not installed: pip install -e {TESTSOURCE}")


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    """The testsource data file, holding 250 customers."""
    path = tmp_path / "customers.jsonl"
    write_source(path, rows(250))
    return path


@pytest.fixture
def build_hub(crmhub_database_url: str, source_file: Path) -> Iterator[Callable[..., Hub]]:
    """``build_hub(source={...}, jobs={...}, extra={...}, plugins={...}, hub={...}, clock=…)``:
    a hub on the test's database with a ``testsource.main`` instance reading
    ``source_file`` (settings overridable through ``source``), fast job timings, and
    extra plugin objects registered by name."""
    hubs: list[Hub] = []

    def factory(
        *,
        source: dict[str, Any] | None = None,
        jobs: dict[str, Any] | None = None,
        extra: dict[str, object] | None = None,
        plugins: dict[str, Any] | None = None,
        hub: dict[str, Any] | None = None,
        segments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Hub:
        instance = {"data_file": str(source_file), "page_size": 50, **(source or {})}
        settings = load_settings(
            None,
            hub={
                "database_url": crmhub_database_url,
                "secret_key": "test-secret-key-for-signing",
                **(hub or {}),
            },
            jobs={**FAST_JOBS, **(jobs or {})},
            plugins={"testsource": {"main": instance}, **(plugins or {})},
            segments=segments or {},
        )
        built = create_hub(
            settings, plugins=load_plugins(extra_plugins=extra), migrate_embedded=False, **kwargs
        )
        hubs.append(built)
        return built

    yield factory
    for built in hubs:
        built.close()
