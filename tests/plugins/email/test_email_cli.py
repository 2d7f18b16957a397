"""``crmhub email …`` and ``crmhub db upgrade`` (the plugin's own migration branch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from email_support import add_customers, add_order, join_segment, write_config
from sqlalchemy import inspect

from crmhub.core.cli.main import main
from crmhub.core.plugins import load_plugins
from crmhub.core.storage.engine import create_engine
from crmhub.core.storage.migrate import current_revisions

EMAIL_TABLES = {"email_send", "email_suppression", "email_campaign_run"}


@pytest.fixture
def crmhub(monkeypatch, tmp_path, crmhub_database_url, smtp_server, capsys):
    """Run ``crmhub ARGS…`` in-process with a config for the test's database and SMTP server;
    returns (exit code, stdout, stderr)."""
    def run(*args: str, **overrides):
        config = write_config(tmp_path / "crmhub.toml", crmhub_database_url, smtp_server, **overrides)
        monkeypatch.setenv("CRMHUB_CONFIG", str(config))
        monkeypatch.chdir(tmp_path)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_send_dry_run_then_send_then_report_as_json(crmhub, email_hub, smtp_server):
    hub = email_hub()
    ids = add_customers(hub, 4)
    join_segment(hub, "champions", ids)

    code, out, _ = crmhub("email", "send", "spring", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["would_send"] == 4 and smtp_server.handler.messages == []

    code, out, _ = crmhub("email", "send", "spring", "--json")
    assert code == 0 and json.loads(out)["delivery"]["sent"] == 4
    add_order(hub, "c2@example.com", hub.now(), "12.50", number="o1")

    code, out, _ = crmhub("email", "report", "spring", "--json")
    found = json.loads(out)
    assert code == 0 and found["arms"]["treated"]["conversions"] == 1 and found["delivery"]["delivered"] == 4
    assert found["runs"][0]["status"] == "succeeded"

    code, out, _ = crmhub("email", "report", "spring")
    assert code == 0 and "treated" in out and "delivered 4" in out


def test_preview_renders_without_sending_or_recording(crmhub, email_hub, smtp_server):
    hub = email_hub()
    [cid] = add_customers(hub, 1)

    code, out, _ = crmhub("email", "preview", "spring", "--customer", str(cid), "--json")

    found = json.loads(out)
    assert code == 0 and found["subject"] == "Spring picks for Name0" and found["eligible"] is True
    assert found["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert found["text"].startswith("Hello Name0,") and found["links"] == ["https://shop.example.com/spring?utm=mail&c=1"]
    code, out, _ = crmhub("email", "preview", "welcome", "--customer", str(cid))
    assert code == 0 and "Subject: Welcome!" in out and "Welcome Name0" in out
    assert smtp_server.handler.messages == []


def test_suppressions_can_be_listed_added_and_removed(crmhub, email_hub):
    email_hub()
    assert crmhub("email", "suppress", "Someone@Example.com")[0] == 0
    code, out, _ = crmhub("email", "suppressions", "--json")
    [entry] = json.loads(out)
    assert code == 0
    assert (entry["email"], entry["reason"]) == ("someone@example.com", "manual")
    assert crmhub("email", "unsuppress", "someone@example.com")[0] == 0
    assert crmhub("email", "unsuppress", "someone@example.com")[0] == 1


def test_errors_have_exit_codes_and_one_message(crmhub, email_hub):
    email_hub()
    code, _, err = crmhub("email", "send", "nope")
    assert code == 1 and "no email campaign or flow named 'nope'" in err and "Traceback" not in err
    code, _, err = crmhub("email", "report", "spring", campaigns={"spring": {"segment": "champions", "template": "missing"}})
    assert code == 2 and "plugins.email.main" in err and "no template named 'missing'" in err


def test_db_upgrade_applies_the_email_branch(tmp_path, monkeypatch, capsys):
    config = tmp_path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "sqlite:///{tmp_path}/fresh.db"\n')
    monkeypatch.setenv("CRMHUB_CONFIG", str(config))

    assert main(["db", "upgrade", "--json"]) == 0

    assert "email_0001" in json.loads(capsys.readouterr().out)["applied"]
    engine = create_engine(f"sqlite:///{tmp_path}/fresh.db")
    assert EMAIL_TABLES <= set(inspect(engine).get_table_names())
    assert "email_0001" in current_revisions(engine)
    engine.dispose()


def test_the_test_kit_database_has_the_email_tables(crmhub_database_url):
    assert any(Path(folder).parent.name == "email" for folder in load_plugins().migrations())
    engine = create_engine(crmhub_database_url)
    assert EMAIL_TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_migration_matches_the_models(crmhub_database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import crmhub.plugins.email.models  # noqa: F401

    engine = create_engine(crmhub_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = [d for d in compare_metadata(context, SQLModel.metadata) if "email_" in repr(d)]
    engine.dispose()
    assert diff == []
