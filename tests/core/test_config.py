"""Configuration: file + environment, plugin instances, and one clear error per mistake."""

from __future__ import annotations

import pytest

from crmhub.core.errors import ConfigError
from crmhub.core.hub import create_hub
from crmhub.core.settings import load_settings

SHOP = {"shop_url": "http://127.0.0.1:9001", "access_token": "shpat_secret_token_1", "webhook_secret": "whsec_1"}


def write(tmp_path, text: str):
    path = tmp_path / "crmhub.toml"
    path.write_text(text)
    return path


def test_environment_overrides_the_file_with_nested_keys(tmp_path, monkeypatch):
    path = write(tmp_path, '[hub]\nbroker_url = ""\n[plugins.shopify.main]\nshop_url = "http://127.0.0.1:1"\n')
    monkeypatch.setenv("CRMHUB_HUB__BROKER_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("CRMHUB_HUB__API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("CRMHUB_PLUGINS__SHOPIFY__MAIN__ACCESS_TOKEN", "shpat_from_env")
    settings = load_settings(path)
    assert settings.hub.broker_url == "redis://127.0.0.1:6379/3"
    assert [k.get_secret_value() for k in settings.hub.api_keys] == ["k1", "k2"]
    assert settings.plugins["shopify"]["main"]["access_token"] == "shpat_from_env"
    assert settings.plugins["shopify"]["main"]["shop_url"] == "http://127.0.0.1:1"


def test_crmhub_config_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[hub]\npublic_url = "https://hub.example.com"\n')
    monkeypatch.setenv("CRMHUB_CONFIG", str(path))
    assert load_settings().hub.public_url == "https://hub.example.com"


@pytest.mark.parametrize(
    "text, key",
    [
        ("[plugins.shopfy.main]\n", "plugins.shopfy"),
        ('[plugins.shopify.main]\nshop_url = "http://x.test"\nwebhook_secret = "s"\n', "plugins.shopify.main.access_token"),
        ('[plugins.shopify.main]\nshop_url = "http://x.test"\naccess_token = "t"\nwebhook_secret = "s"\nsync_interval = "often"\n',
         "plugins.shopify.main.sync_interval"),
        ('[plugins.email.main]\nfrom_address = "a@b.c"\nsmtp_port = "twenty-five"\n', "plugins.email.main.smtp_port"),
        ("[hub]\nworker_threads = \"many\"\n", "hub.worker_threads"),
        ("[hub]\nno_such_key = 1\n", "hub.no_such_key"),
        ('[segments.vip]\ndestinations = ["hubspot.main"]\n', "segments.vip.rule"),
        ('[segments.vip]\nrule = "orders_count > 1"\ndestinations = ["hubspot.nope"]\n', "segments.vip.destinations"),
    ],
)
def test_a_bad_config_names_the_key(make_hub, tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        settings = load_settings(path)
        create_hub(settings.model_copy(update={"hub": settings.hub.model_copy(
            update={"database_url": f"sqlite:///{tmp_path}/x.db"})}))
    assert caught.value.key == key
    assert key in caught.value.message


def test_unreadable_or_invalid_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[hub\n"))


def test_disabled_instances_are_kept_but_switched_off(make_hub):
    hub = make_hub(plugins={"shopify": {"main": SHOP, "eu": {**SHOP, "enabled": False}}})
    assert set(hub.instances) == {"shopify.main", "shopify.eu"}
    assert [i.id for i in hub.enabled_instances("shopify")] == ["shopify.main"]
