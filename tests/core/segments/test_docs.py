"""docs/segments.md is the contract: every name is documented, every example rule checks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from crmhub.core.segments.checker import check_rule
from crmhub.core.segments.names import CATALOGUE

DOCS = Path(__file__).resolve().parents[3] / "docs" / "segments.md"


def test_every_name_is_documented_with_its_example():
    text = DOCS.read_text()
    missing = [key for key, spec in CATALOGUE.items() if f"`{spec.example}`" not in text]
    assert missing == []


def test_every_ready_made_segment_in_the_docs_checks():
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), flags=re.S)
    segments: dict[str, str] = {}
    for block in blocks:
        segments.update({name: table["rule"] for name, table in tomllib.loads(block).get("segments", {}).items()})
    assert {"core_customers", "potential_customers", "ordinary_customers", "churned_customers", "new_customers",
            "active_customers", "loyal_customers", "at_risk_customers", "lost_customers",
            "high_value_churn_risk"} <= set(segments)
    for name, rule in segments.items():
        check_rule(rule, known_segments=set(segments))
