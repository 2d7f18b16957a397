"""``crmhub segments list|check|refresh|push`` end to end through the command line."""

from __future__ import annotations

import json

import pytest

import crmhub.core.hub
from crmhub.core.cli.main import main
from crmhub.core.settings import load_settings
from tests.conftest import T0
from tests.core.segments.helpers import RecordingDestination, add_customer, plugins_with


def write_config(path, database_url, segments: str) -> str:
    config = path / "crmhub.toml"
    config.write_text(f'[hub]\ndatabase_url = "{database_url}"\nsecret_key = "test-secret-key"\n\n'
                      f'[plugins.testdest.main]\n\n{segments}')
    return str(config)


@pytest.fixture
def destination(monkeypatch):
    found = RecordingDestination()
    monkeypatch.setattr(crmhub.core.hub, "load_plugins", lambda: plugins_with(found))
    return found


GOOD = '''[segments.vip]
rule = 'tags contains "vip" and consent.email'
destinations = ["testdest.main"]
description = "Tagged VIPs"
'''
BAD = GOOD + '''
[segments.broken]
rule = """consent.email and
  orders_count > "two\""""
'''


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_points_at_the_mistake_with_a_caret_and_exits_2(tmp_path, crmhub_database_url, destination, capsys):
    config = write_config(tmp_path, crmhub_database_url, BAD)
    code, out, err = run(capsys, "--config", config, "segments", "check")
    assert code == 2
    lines = err.splitlines()
    at = lines.index("segments.broken: line 2, column 18: orders_count is a number: compare it with a number, "
                     "not a string")
    assert lines[at + 1] == '    orders_count > "two"'
    assert lines[at + 2] == "  " + " " * 17 + "^"
    assert "segments.vip" not in err
    code, out, _ = run(capsys, "--config", config, "segments", "check", "--json")
    data = json.loads(out)
    assert code == 2 and data["ok"] is False
    assert {s["name"]: s["error"] for s in data["segments"]}["broken"] == {
        "line": 2, "column": 18, "message": "orders_count is a number: compare it with a number, not a string"}


def test_check_passes_good_rules(tmp_path, crmhub_database_url, destination, capsys):
    config = write_config(tmp_path, crmhub_database_url, GOOD)
    code, out, _ = run(capsys, "--config", config, "segments", "check")
    assert code == 0 and "1 segment rule OK" in out


def test_refresh_list_and_push_from_the_command_line(tmp_path, crmhub_database_url, destination, capsys):
    config = write_config(tmp_path, crmhub_database_url, GOOD)
    hub = crmhub.core.hub.create_hub(load_settings(config), clock=lambda: T0)
    with hub.transaction() as session:
        ids = [add_customer(session, f"c{i}@x.com", now=T0, tags=["vip"]) for i in range(2)]
    hub.close()
    code, out, _ = run(capsys, "--config", config, "segments", "refresh", "--json")
    assert code == 0
    [result] = json.loads(out)["segments"]
    assert (result["segment"], result["size"], result["entered"]) == ("vip", 2, 2)
    code, out, _ = run(capsys, "--config", config, "segments", "list", "--json")
    [listed] = json.loads(out)["segments"]
    assert (listed["name"], listed["size"], listed["destinations"]) == ("vip", 2, ["testdest.main"])
    # The dry run prints the plan and calls nothing
    code, out, _ = run(capsys, "--config", config, "segments", "push", "--dry-run")
    assert code == 0 and "+2" in out and "−0" in out and "~0" in out and destination.batches == []
    code, out, _ = run(capsys, "--config", config, "segments", "push", "--json", "--destination", "testdest.main")
    [report] = json.loads(out)["pushes"]
    assert (report["added"], report["status"]) == (2, "succeeded")
    assert sorted(i.customer_id for i in destination.items) == ids


def test_refresh_of_an_unknown_segment_is_an_error(tmp_path, crmhub_database_url, destination, capsys):
    config = write_config(tmp_path, crmhub_database_url, GOOD)
    code, _, err = run(capsys, "--config", config, "segments", "refresh", "nope")
    assert code == 1 and "nope" in err
