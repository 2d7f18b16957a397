"""`crmhub sync`, `crmhub jobs`, `crmhub worker` as a user runs them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmhub.core.cli.main import main
from crmhub.core.jobs import enqueue
from crmhub.core.jobs.executor import Executor
from crmhub.core.jobs.leases import acquire_lease
from tests.core.jobs.conftest import FAST_JOBS


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def crmhub(capsys):
    """Run the ``crmhub`` command in this process (as the console script does)."""

    def run(config: Path, *args: str) -> Result:
        capsys.readouterr()
        code = main(["--config", str(config), *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def toml_value(value: object) -> str:
    return json.dumps(value)


@pytest.fixture
def config(tmp_path, crmhub_database_url, source_file):
    path = tmp_path / "crmhub.toml"
    jobs = "\n".join(f"{key} = {toml_value(value)}" for key, value in FAST_JOBS.items())
    path.write_text(
        f'[hub]\ndatabase_url = "{crmhub_database_url}"\nsecret_key = "cli-test-secret"\n\n'
        f"[jobs]\n{jobs}\n\n"
        f'[plugins.testsource.main]\ndata_file = "{source_file}"\npage_size = 50\n'
    )
    return path


def test_sync_prints_what_it_did(crmhub, config):
    result = crmhub(config, "sync", "testsource.main", "--json")
    assert result.returncode == 0, result.stderr
    [run] = json.loads(result.stdout)["runs"]
    assert (run["stream"], run["status"], run["created"], run["records_read"]) == (
        "customers",
        "succeeded",
        250,
        250,
    )

    table = crmhub(config, "sync", "testsource.main", "--full")
    assert table.returncode == 0
    assert "customers" in table.stdout and "succeeded" in table.stdout


def test_sync_refuses_while_another_sync_of_the_stream_runs(crmhub, config, build_hub):
    hub = build_hub()
    with hub.transaction() as session:
        acquire_lease(session, "sync:testsource.main:customers", "elsewhere", now=hub.now(), ttl=60)
    result = crmhub(config, "sync", "testsource.main")
    assert result.returncode == 1
    assert "already running" in result.stderr


def test_sync_of_an_unknown_instance_names_it(crmhub, config):
    result = crmhub(config, "sync", "testsource.nope")
    assert result.returncode == 1
    assert "testsource.nope" in result.stderr


def test_jobs_lists_dead_letters_and_retries_them(crmhub, config, build_hub, tmp_path):
    hub = build_hub()
    with hub.transaction() as session:
        job_id = enqueue(
            session,
            "testsource.check",
            {"path": str(tmp_path / "missing")},
            now=hub.now(),
            max_attempts=1,
        )
    Executor(hub).execute(job_id)

    listed = crmhub(config, "jobs", "--status", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert (item["id"], item["actor"], item["status"]) == (job_id, "testsource.check", "failed")
    assert "is not there yet" in item["last_error"]

    retried = crmhub(config, "jobs", "retry", str(job_id))
    assert retried.returncode == 0, retried.stderr
    shown = json.loads(crmhub(config, "jobs", "show", str(job_id), "--json").stdout)
    assert (shown["status"], shown["attempts"]) == ("pending", 0)

    again = crmhub(config, "jobs", "retry", str(job_id))
    assert again.returncode == 2 and "only failed jobs" in again.stderr


def test_worker_refuses_the_embedded_broker(crmhub, config):
    result = crmhub(config, "worker")
    assert result.returncode == 2
    assert "the embedded broker runs inside crmhub serve" in result.stderr
