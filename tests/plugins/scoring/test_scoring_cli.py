"""``crmhub score`` and ``crmhub score rebuild-stats``, run as the real console command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scoring_db import CALIBRATION_END, ingest, scoring_hub

PINNED = {"bgnbd": {"r", "alpha", "a", "b", "log_likelihood"}, "pareto_nbd": {"r", "alpha", "s", "beta"},
          "gamma_gamma": {"p", "q", "gamma"}}


def crmhub(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``crmhub ARGS`` with ``config`` as its configuration file."""
    path = tmp_path / "crmhub.toml"
    path.write_text(config)
    command = [sys.executable, "-c", "from crmhub.core.cli.main import entry_point; entry_point()", *args]
    env = {**os.environ, "CRMHUB_CONFIG": str(path)}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def config(url: str, scoring: str = "[plugins.scoring.main]\n") -> str:
    return f'[hub]\ndatabase_url = "{url}"\n\n{scoring}'


def test_score_json_prints_the_pinned_summary(tmp_path, make_hub, crmhub_database_url, cdnow_orders):
    # Given a shop with the CDNOW calibration orders and the default scorer settings
    ingest(scoring_hub(make_hub), [o for o in cdnow_orders if o.placed_at.isoformat() <= CALIBRATION_END + "T23:59"])

    # When `crmhub score --as-of … --json` runs
    done = crmhub(tmp_path, config(crmhub_database_url), "score", "--as-of", CALIBRATION_END, "--json")

    # Then it prints the summary pinned by the spec, with every model fitted by default
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["as_of"] == "1997-09-30T23:59:59.999999+00:00"
    assert summary["customers_scored"] == 2357 and summary["time_unit"] == "days"
    assert set(summary["models"]) == {"mbgnbd", "bgnbd", "pareto_nbd", "gamma_gamma"}
    for model, keys in PINNED.items():
        assert keys <= set(summary["models"][model]), model
    assert summary["model_used"] == "mbgnbd" and summary["inputs_from"] == "customer_stats"
    # α is in days here: 7 × the published 4.414 weeks.
    assert abs(summary["models"]["bgnbd"]["alpha"] / (7 * 4.414) - 1) < 0.01

    # And without --json, people get segment counts and the models
    done = crmhub(tmp_path, config(crmhub_database_url), "score", "--as-of", CALIBRATION_END)
    assert done.returncode == 0, done.stderr
    assert "scored 2,357 customers as of 1997-09-30" in done.stdout
    assert "RFM segments" in done.stdout and "Champions" in done.stdout
    assert "Models (time unit: days)" in done.stdout and "pareto_nbd" in done.stdout


def test_rebuild_stats_command(tmp_path, make_hub, crmhub_database_url, cdnow_orders):
    ingest(scoring_hub(make_hub), cdnow_orders[:500])
    done = crmhub(tmp_path, config(crmhub_database_url), "score", "rebuild-stats", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["customers"] > 100 and report["seconds"] >= 0


def test_bad_dates_and_missing_scorers_are_clear_errors(tmp_path, crmhub_database_url):
    done = crmhub(tmp_path, config(crmhub_database_url), "score", "--as-of", "last tuesday")
    assert done.returncode == 2
    assert "--as-of 'last tuesday' is not a date" in done.stderr and "Traceback" not in done.stderr

    done = crmhub(tmp_path, config(crmhub_database_url, ""), "score", "--json")
    assert done.returncode == 1
    assert "no scorer instance is configured" in done.stderr

    done = crmhub(tmp_path, config(crmhub_database_url, '[plugins.scoring.main]\nhealth_weights = { mood = 1.0 }\n'),
                  "score")
    assert done.returncode == 2
    assert "plugins.scoring.main.health_weights" in done.stderr and "mood" in done.stderr
