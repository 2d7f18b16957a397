"""Settings and templates: validation errors name the key; folder templates; the example
configuration's templates render."""

from __future__ import annotations

from pathlib import Path

import pytest
from email_support import add_customers

from crmhub.core.errors import ConfigError
from crmhub.core.settings import load_settings
from crmhub.plugins.email.preview import preview
from crmhub.plugins.email.runtime import runtime

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "crmhub.example.toml"


@pytest.mark.parametrize("overrides, message", [
    ({"campaigns": {"x": {"segment": "s", "template": "missing"}}}, "campaigns.x.template: no template named 'missing'"),
    ({"flows": {"welcome": {"segment": "s", "template": "welcome", "delay": "soon"}}}, "flows.welcome.delay"),
    ({"templates": {"t": {"subject": "s", "folder": "x"}}}, "either folder or inline"),
    ({"templates": {"t": {"subject": "s"}}}, "needs subject and html and/or text"),
    ({"campaigns": {"x": {"segment": "s", "template": "spring", "holdout": 1.0}}}, "campaigns.x.holdout"),
    ({"campaigns": {"x": {"segment": "s", "template": "spring", "survey": "csat"}}}, "no survey named 'csat'"),
    ({"security": "ssl"}, "plugins.email.main.security"),
])
def test_bad_settings_fail_at_load_naming_the_key(email_hub, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as caught:
        email_hub(**overrides)
    assert "plugins.email.main" in str(caught.value)


def test_a_template_that_does_not_compile_is_a_configuration_error(email_hub):
    hub = email_hub(templates={"spring": {"subject": "{{ customer.first_name ", "text": "x"}})
    with pytest.raises(ConfigError, match=r"plugins.email.main.templates.spring.subject"):
        runtime(hub, "email.main")


def test_folder_templates_can_extend_a_shared_layout(email_hub, tmp_path, monkeypatch):
    (tmp_path / "email" / "spring").mkdir(parents=True)
    (tmp_path / "email" / "layout.html").write_text("<html><body>{% block body %}{% endblock %}"
                                                    "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></body></html>")
    (tmp_path / "email" / "spring" / "subject.txt").write_text("Hi {{ customer.first_name }}\n")
    (tmp_path / "email" / "spring" / "body.html").write_text(
        '{% extends "layout.html" %}{% block body %}<p>Dear {{ customer.first_name }} &amp; co</p>{% endblock %}')
    monkeypatch.chdir(tmp_path)
    hub = email_hub(templates={"spring": {"folder": "email/spring"}})
    [cid] = add_customers(hub, 1)

    found = preview(hub, "spring", cid)

    assert found["subject"] == "Hi Name0"
    assert "<p>Dear Name0 &amp; co</p>" in found["html"] and "/unsubscribe/" in found["html"]
    assert found["text"].startswith("Dear Name0 & co\nUnsubscribe (https://hub.example.com/unsubscribe/")


def test_html_is_escaped_and_text_is_not(email_hub):
    hub = email_hub(templates={"spring": {"subject": "For {{ customer.first_name }}",
                                          "html": "<p>{{ customer.first_name }}</p>",
                                          "text": "{{ customer.first_name }}"}})
    from crmhub.core.ingest import ingestor
    from crmhub.core.records import CustomerRecord

    result = ingestor(hub).ingest_and_commit([CustomerRecord(
        instance="import.default", external_id="x", email="x@example.com", first_name="<b>Bo & Co</b>")])
    found = preview(hub, "spring", min(result.customer_ids))
    assert "<p>&lt;b&gt;Bo &amp; Co&lt;/b&gt;</p>" in found["html"]
    assert found["text"] == "<b>Bo & Co</b>" and found["subject"] == "For <b>Bo & Co</b>"
    assert found["eligible"] is False and found["reason"] == "no_consent"


def test_the_example_configuration_renders(crmhub_database_url, tmp_path, monkeypatch):
    from crmhub.core.hub import create_hub

    monkeypatch.chdir(tmp_path)
    settings = load_settings(EXAMPLE)
    settings = settings.model_copy(update={"hub": settings.hub.model_copy(update={
        "database_url": crmhub_database_url, "secret_key": "example-secret-key"})})
    hub = create_hub(settings, migrate_embedded=False)
    try:
        [cid] = add_customers(hub, 1)
        for name in ("spring", "nps_autumn", "vip_thanks"):
            found = preview(hub, name, cid)
            assert found["subject"] and found["text"]
            assert found["headers"]["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
        assert "recommend us" in preview(hub, "nps_autumn", cid)["text"]
    finally:
        hub.close()


def test_instance_health_reports_configuration_problems(email_hub):
    healthy = email_hub()
    assert healthy.plugins.instance_health(healthy, healthy.instance("email.main")) == []
    hub = email_hub(unsubscribe_mailto=None, campaigns={"lost": {"segment": "nowhere", "template": "spring"}},
                    templates={"welcome": {"subject": "{% if %}", "text": "x"}})
    problems = hub.plugins.instance_health(hub, hub.instance("email.main"))
    messages = [(p["level"], p["message"]) for p in problems]
    assert ("error", "campaign 'lost': segment 'nowhere' is not configured") in messages
    assert any(level == "error" and "templates.welcome.subject" in text for level, text in messages)
    assert any(level == "warning" and "unsubscribe_mailto" in text for level, text in messages)
