"""The docs are the contract: every hook documented with its signature, every setting in
the example configuration."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from crmhub.core import hookspecs
from crmhub.core.instances import InstanceSettings
from crmhub.core.plugins import load_plugins
from crmhub.core.settings import HubSettings, JobSettings, SegmentSettings

ROOT = Path(__file__).resolve().parents[2]
HOOKS_DOC = (ROOT / "docs" / "hooks.md").read_text()
EXAMPLE = ROOT / "config" / "crmhub.example.toml"


def _hookspecs():
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("crmhub_")]


@pytest.mark.parametrize("name, spec", _hookspecs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_hook_is_documented_with_its_signature(name, spec):
    params = ", ".join(inspect.signature(spec).parameters)
    assert f"### {name}\n" in HOOKS_DOC, f"docs/hooks.md has no section for {name}"
    section = HOOKS_DOC.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
    assert f"`{name}({params})`" in section, f"docs/hooks.md shows another signature for {name}"
    firstresult = spec.crmhub_spec["firstresult"]
    assert ("*firstresult*" in section) == firstresult, f"docs/hooks.md is wrong about firstresult for {name}"


def test_no_documented_hook_is_missing_from_the_specs():
    documented = set(re.findall(r"^### (crmhub_\w+)$", HOOKS_DOC, flags=re.M))
    assert documented == {name for name, _ in _hookspecs()}


def _documented_keys(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in table.items():
        keys.add(f"{prefix}{key}")
        if isinstance(value, dict):
            keys |= _documented_keys(value, f"{prefix}{key}.")
    return keys


def test_every_setting_is_in_the_example_config():
    example = tomllib.loads(EXAMPLE.read_text())
    keys = _documented_keys(example)
    hub_text = EXAMPLE.read_text().split("[hub]", 1)[1].split("\n[", 1)[0]
    missing = [
        f"hub.{f}" for f in HubSettings.model_fields
        if f"hub.{f}" not in keys and not re.search(rf"^#\s*{f}\s*=", hub_text, flags=re.M)
    ]
    missing += [f"jobs.{f}" for f in JobSettings.model_fields if f"jobs.{f}" not in keys]
    hooks = load_plugins()
    built_in = {info.name for info in hooks.info() if info.module.startswith("crmhub.plugins.")}
    for plugin, model in hooks.settings_models().items():
        if plugin not in built_in:
            continue
        if plugin not in example.get("plugins", {}):
            missing.append(f"plugins.{plugin}")
            continue
        for instance in example["plugins"][plugin]:
            missing += [f"plugins.{plugin}.{instance}.{f}" for f in model.model_fields
                        if f"plugins.{plugin}.{instance}.{f}" not in keys and f not in InstanceSettings.model_fields]
    segment = next(iter(example.get("segments", {}).values()), {})
    missing += [f"segments.*.{f}" for f in SegmentSettings.model_fields if f not in segment]
    assert not missing, f"config/crmhub.example.toml does not document: {missing}"
    for common in InstanceSettings.model_fields:
        assert common in EXAMPLE.read_text(), f"config/crmhub.example.toml does not document {common}"


def test_the_example_config_is_valid(make_hub, tmp_path, monkeypatch):
    from crmhub.core.hub import create_hub
    from crmhub.core.settings import load_settings

    monkeypatch.chdir(tmp_path)
    settings = load_settings(EXAMPLE)
    hub = create_hub(settings.model_copy(update={"hub": settings.hub.model_copy(
        update={"database_url": f"sqlite:///{tmp_path}/example.db"})}))
    assert hub.instances
    hub.close()
