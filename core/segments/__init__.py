"""Segments: a small rule language over customers, compiled to SQL, materialised with
history, and pushed to destinations as differences.

- :func:`check_rule` parses and type-checks rule text (errors carry line and column);
- :func:`refresh_segments` materialises membership and records entered/exited events
  and size history;
- :func:`push_segments` sends each destination only what changed since its last
  confirmed push;
- :mod:`crmhub.core.segments.query` answers the API; :mod:`.jobs` holds the jobs.

The language is documented in ``docs/segments.md``.
"""

from crmhub.core.segments.checker import CheckedRule, check_rule
from crmhub.core.segments.push import PushReport, push_segments
from crmhub.core.segments.refresh import RefreshResult, refresh_segments
from crmhub.core.segments.rules import RuleCheck, check_configured

__all__ = [
    "CheckedRule",
    "PushReport",
    "RefreshResult",
    "RuleCheck",
    "check_configured",
    "check_rule",
    "push_segments",
    "refresh_segments",
]
