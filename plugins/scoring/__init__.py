"""The scoring plugin: RFM segments and tiers, purchase and spend models, CLV, churn risk
and health for every customer (``crmhub score``; docs/scoring.md).

``hooks.py`` is the entry point; ``run.py`` is one scoring run; ``models/`` is the maths.
"""
