"""The configured segments' rules, checked together: names, types, references between
segments, and the order in which they must be refreshed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmhub.core.errors import RuleSyntaxError
from crmhub.core.segments import ast
from crmhub.core.segments.checker import CheckedRule, check_rule
from crmhub.core.segments.names import SEGMENT_SOURCES

if TYPE_CHECKING:
    from crmhub.core.settings import Settings


@dataclass
class RuleCheck:
    """The outcome of checking one configured segment: its rule, or its error."""

    name: str
    text: str
    rule: CheckedRule | None = None
    error: RuleSyntaxError | None = None

    @property
    def ok(self) -> bool:
        """Whether the rule parsed and type-checked."""
        return self.rule is not None and self.error is None


def _reference_position(rule: CheckedRule, target: str) -> tuple[int, int]:
    for node in ast.walk(rule.tree):
        if isinstance(node, ast.Term) and node.spec.source in SEGMENT_SOURCES and node.arguments[0] == target:
            return node.line, node.column
    return 1, 1


def check_configured(settings: Settings) -> dict[str, RuleCheck]:
    """Check every ``[segments.<name>]`` rule, including references to other segments
    (which must exist and must not form a cycle)."""
    known = set(settings.segments)
    checks: dict[str, RuleCheck] = {}
    for name, segment in settings.segments.items():
        try:
            checks[name] = RuleCheck(name, segment.rule, rule=check_rule(segment.rule, known_segments=known))
        except RuleSyntaxError as exc:
            checks[name] = RuleCheck(name, segment.rule, error=exc)
    cycles = {name: _cycle_from(name, checks) for name, check in checks.items() if check.rule is not None}
    for name, cycle in cycles.items():
        check = checks[name]
        if cycle and check.rule is not None:
            line, column = _reference_position(check.rule, cycle[1])
            path = " → ".join(cycle)
            check.error = RuleSyntaxError(f"segments refer to each other in a cycle: {path}", line=line,
                                          column=column, rule=check.text)
            check.rule = None
    return checks


def _cycle_from(start: str, checks: dict[str, RuleCheck]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        current, path = stack.pop()
        check = checks.get(current)
        if check is None or check.rule is None:
            continue
        for target in sorted(check.rule.segments):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def refresh_order(checks: dict[str, RuleCheck], names: list[str]) -> list[str]:
    """``names`` ordered so that a segment comes after the segments its rule reads."""
    wanted = list(dict.fromkeys(names))
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        check = checks.get(name)
        if check is not None and check.rule is not None:
            for target in sorted(check.rule.segments):
                if target in wanted:
                    visit(target)
        visiting.discard(name)
        ordered.append(name)

    for name in wanted:
        visit(name)
    return ordered
