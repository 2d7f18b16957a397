"""The command line: exit codes, clear errors without tracebacks, --json, import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crmhub.core.cli.main import main

SECRET = "shpat_very_secret_token_42"


def run(tmp_path: Path, *args: str, config: str | None = None, env: dict[str, str] | None = None):
    """Run the real console command in a subprocess, in tmp_path."""
    path = tmp_path / "crmhub.toml"
    if config is not None:
        path.write_text(config)
    command = [sys.executable, "-c", "from crmhub.core.cli.main import entry_point; entry_point()", *args]
    environment = {**os.environ, "CRMHUB_CONFIG": str(path) if config is not None else "", **(env or {})}
    return subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)


def config_for(url: str, extra: str = "") -> str:
    return f'[hub]\ndatabase_url = "{url}"\n{extra}'


def test_plugins_json_lists_the_five_built_in_plugins_and_hides_secrets(tmp_path, crmhub_database_url):
    shop = (f'[plugins.shopify.main]\nshop_url = "http://127.0.0.1:9"\naccess_token = "{SECRET}"\n'
            'webhook_secret = "whsec_hidden_1"\n')
    done = run(tmp_path, "plugins", "--json", config=config_for(crmhub_database_url, shop))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    names = {p["name"] for p in report["plugins"]}
    assert {"shopify", "woocommerce", "hubspot", "email", "scoring"} <= names
    assert report["config_valid"] is True
    shopify = next(p for p in report["plugins"] if p["name"] == "shopify")
    assert shopify["distribution"] == "crmhub"
    assert [i["id"] for i in shopify["instances"]] == ["shopify.main"]
    assert SECRET not in done.stdout + done.stderr


def test_bad_config_exits_2_with_one_message_and_no_traceback(tmp_path):
    done = run(tmp_path, "customers", "search", config="[plugins.shopify.main]\nshop_url = 5\n")
    assert done.returncode == 2
    assert "plugins.shopify.main" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1


def test_unknown_customer_exits_1(tmp_path, crmhub_database_url):
    done = run(tmp_path, "customers", "show", "999", config=config_for(crmhub_database_url))
    assert done.returncode == 1
    assert "customer 999 does not exist" in done.stderr


def test_import_reports_bad_rows_with_line_numbers_and_reimport_changes_nothing(tmp_path, crmhub_database_url):
    data = tmp_path / "orders.csv"
    data.write_text(
        "order_id,customer_email,placed_at,total,currency,channel\n"
        "A1,ann@example.com,2026-01-02,10.50,EUR,web\n"
        "A2,bob@example.com,yesterday,3,EUR,web\n"
        "A3,,2026-01-03,5,EUR,web\n"
        'A4,ANN@example.com,2026-02-01T10:00:00+01:00,"7.25",EUR,"app, mobile"\n'
        "A5,cat@example.com,2026-02-01,12,EURO,web\n"
    )
    config = config_for(crmhub_database_url, "exchange_rates = { EUR = 1 }\n")
    first = run(tmp_path, "import", str(data), "--json", config=config)
    assert first.returncode == 1  # some rows were rejected
    report = json.loads(first.stdout)
    assert (report["rows"], report["created"], report["rejected"]) == (5, 2, 3)
    rejects = Path(report["rejects_file"]).read_text().splitlines()
    assert rejects[0] == "line,reason,row"
    assert [line.split(",")[0] for line in rejects[1:]] == ["3", "4", "6"]
    assert "placed_at 'yesterday'" in rejects[1] and "customer_email" in rejects[2] and "currency" in rejects[3]

    again = json.loads(run(tmp_path, "import", str(data), "--json", config=config).stdout)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)

    found = json.loads(run(tmp_path, "customers", "search", "--email", "ann@example.com", "--json", config=config).stdout)
    [ann] = found["items"]
    assert ann["orders_count"] == 2 and ann["total_spent"] == "17.7500"
    profile = json.loads(run(tmp_path, "customers", "show", str(ann["id"]), "--json", config=config).stdout)
    assert {(i["instance"], i["external_id"]) for i in profile["identities"]} == {("import.default", "guest:ann@example.com")}
    assert profile["orders"][0]["attributes"] == {"channel": "app, mobile"}


def test_import_of_json_lines_customers_with_source(tmp_path, crmhub_database_url):
    data = tmp_path / "people.jsonl"
    data.write_text(
        '{"customer_id": "c1", "email": "Zed@Example.com", "first_name": "Zed", "accepts_marketing": "yes", "tier": "gold"}\n'
        "not json\n"
        '{"first_name": "nobody"}\n'
    )
    done = run(tmp_path, "import", str(data), "--source", "legacy", "--json", config=config_for(crmhub_database_url))
    report = json.loads(done.stdout)
    assert (report["created"], report["rejected"], report["source"]) == (1, 2, "import.legacy")


def test_usage_errors_exit_2(tmp_path):
    assert main(["no-such-command"]) == 2


def test_customers_unmerge_separates_a_merged_pair(tmp_path, crmhub_database_url):
    people = tmp_path / "people.csv"
    people.write_text("customer_id,email,phone\nc1,ann@example.com,+14155550100\n")
    crm = tmp_path / "crm.csv"
    crm.write_text("customer_id,email,updated_at\nh1,ann@work.example.com,2026-01-01\n")
    changed = tmp_path / "crm-changed.csv"
    changed.write_text("customer_id,email,updated_at\nh1,ann@example.com,2026-01-02\n")
    config = config_for(crmhub_database_url)
    run(tmp_path, "import", str(people), config=config)
    run(tmp_path, "import", str(crm), "--source", "crm", config=config)
    run(tmp_path, "import", str(changed), "--source", "crm", config=config)
    merged = json.loads(run(tmp_path, "customers", "show", "1", "--json", config=config).stdout)
    [merge] = merged["merges"]
    done = run(tmp_path, "customers", "unmerge", str(merge["id"]), "--json", config=config)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["customers"] == [1, 2]
    again = run(tmp_path, "customers", "unmerge", str(merge["id"]), config=config)
    assert again.returncode == 2 and "already undone" in again.stderr
