"""Type-checking of parsed rules: every name exists, every comparison makes sense.

Mistakes become :class:`~crmhub.core.errors.RuleSyntaxError` at the line and column of
the offending name or value, e.g. comparing a number with a string::

    orders_count > "5"
                   ^ orders_count is a number: compare it with a number, not a string
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from crmhub.core.errors import RuleSyntaxError
from crmhub.core.segments import ast
from crmhub.core.segments.grammar import parse
from crmhub.core.segments.names import SEGMENT_SOURCES, NameSpec, lookup, suggestions

ORDERING = {"<", "<=", ">", ">="}
TYPE_WORDS = {
    "number": "a number", "money": "an amount of money", "days": "a number of days", "string": "a string",
    "boolean": "a yes/no condition", "datetime": "a time", "list": "a list of strings",
}
LITERAL_WORDS = {"string": "a string", "number": "a number", "boolean": "true/false",
                 "days_ago": "a time", "date": "a time"}
ACCEPTS = {
    "number": {"number"}, "money": {"number"}, "days": {"number"}, "string": {"string"},
    "boolean": {"boolean"}, "datetime": {"days_ago", "date"}, "list": set(),
}


@dataclass
class CheckedRule:
    """A parsed and type-checked rule.

    :ivar segments: other segments the rule refers to (``in_segment``, ``entered``…).
    """

    text: str
    tree: ast.Node
    segments: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, text: str, known_segments: Collection[str] | None) -> None:
        self.text = text
        self.known = known_segments
        self.segments: set[str] = set()

    def error(self, node: ast.Node, message: str, column: int | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(message, line=node.line, column=column or node.column, rule=self.text)

    def check(self, node: ast.Node) -> None:
        if isinstance(node, (ast.Or, ast.And)):
            self.check(node.left)
            self.check(node.right)
        elif isinstance(node, ast.Not):
            self.check(node.operand)
        elif isinstance(node, ast.Truthy):
            spec = self.term(node.term)
            if spec.type != "boolean":
                raise self.error(node.term, f"{node.term.text} is {TYPE_WORDS[spec.type]}, not a condition: "
                                            f"compare it, e.g. {spec.example or node.term.text + ' > 0'}")
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.InList):
            spec = self.term(node.term)
            if spec.type in ("boolean", "datetime", "list"):
                hint = f": use {node.term.text} contains \"…\"" if spec.type == "list" else ""
                raise self.error(node.term, f"{node.term.text} is {TYPE_WORDS[spec.type]}; 'in (…)' needs a "
                                            f"number or a string{hint}")
            for value in node.values:
                self.literal_fits(node.term, spec, value)
        elif isinstance(node, ast.Contains):
            spec = self.term(node.term)
            if spec.type not in ("list", "string"):
                raise self.error(node.term, f"{node.term.text} is {TYPE_WORDS[spec.type]}; 'contains' needs a "
                                            "list (tags, sources) or a string")
            if node.value.kind != "string":
                raise self.error(node.value, f"{node.term.text} contains strings: write a \"string\", not "
                                             f"{LITERAL_WORDS[node.value.kind]}")

    def compare(self, node: ast.Compare) -> None:
        spec = self.term(node.term)
        if spec.type == "list":
            raise self.error(node.term, f"{node.term.text} is a list: use {node.term.text} contains \"…\" "
                                        f"or \"…\" in {node.term.text}")
        self.literal_fits(node.term, spec, node.value)
        if node.op in ORDERING and spec.type in ("string", "boolean"):
            raise self.error(node, f"{node.term.text} is {TYPE_WORDS[spec.type]}: only == and != apply",
                             column=node.op_column)

    def literal_fits(self, term: ast.Term, spec: NameSpec, value: ast.Literal) -> None:
        if value.kind not in ACCEPTS[spec.type]:
            wanted = "days_ago(N) or date(\"YYYY-MM-DD\")" if spec.type == "datetime" else TYPE_WORDS[spec.type]
            raise self.error(value, f"{term.text} is {TYPE_WORDS[spec.type]}: compare it with {wanted}, "
                                    f"not {LITERAL_WORDS[value.kind]}")
        if value.kind == "days_ago" and value.value < 0:
            raise self.error(value, "days_ago(N) needs N >= 0")

    def term(self, term: ast.Term) -> NameSpec:
        spec = lookup(term.key)
        if spec is None and lookup(term.key + "()") is not None:
            raise self.error(term, f"{term.text} needs an argument, e.g. {lookup(term.key + '()').example}")
        if spec is None:
            close = suggestions(term.key) or suggestions(term.parts[0].name)
            hint = f" (did you mean {', '.join(close)}?)" if close else " (see docs/segments.md for every name)"
            raise self.error(term, f"unknown name {term.text!r}{hint}")
        called = [part for part in term.parts if part.arguments is not None]
        given = called[0].arguments if called else None
        given = given or []
        if len(given) != len(spec.arguments):
            raise self.error(called[0], f"{called[0].name} takes {len(spec.arguments)} argument"
                                        f"{'s' if len(spec.arguments) != 1 else ''}, not {len(given)}")
        term.arguments = []
        for value, kind in zip(given, spec.arguments):
            if value.kind != "string":
                raise self.error(value, f"{called[0].name}(…) takes a \"string\", not {LITERAL_WORDS[value.kind]}")
            if kind == "segment":
                if self.known is not None and value.value not in self.known:
                    raise self.error(value, f"unknown segment {value.value!r}")
                self.segments.add(value.value)
            term.arguments.append(value.value)
        if term.window is not None:
            if not spec.window:
                raise self.error(term.window, f"{term.text} takes no 'within' window")
            if term.window.amount <= 0:
                raise self.error(term.window, "a window must be longer than zero")
            if term.window.hours > Decimal(24 * 365 * 200):
                raise self.error(term.window, "a window can be at most 200 years long")
        term.spec = spec
        return spec


def check_tree(tree: ast.Node, text: str, *, known_segments: Collection[str] | None = None) -> CheckedRule:
    """Type-check a parsed rule (resolving every term in place)."""
    checker = _Checker(text, known_segments)
    checker.check(tree)
    return CheckedRule(text=text, tree=tree, segments=checker.segments)


def check_rule(text: str, *, known_segments: Collection[str] | None = None) -> CheckedRule:
    """Parse and type-check a rule.

    :param known_segments: names of configured segments; when given, references to other
        segments (``in_segment("x")``, ``entered("x")``) must name one of them.
    :raises RuleSyntaxError: the first mistake, with its line and column.
    """
    return check_tree(parse(text), text, known_segments=known_segments)


def uses_segment_state(rule: CheckedRule) -> bool:
    """Whether the rule reads other segments' membership or events."""
    return any(isinstance(n, ast.Term) and n.spec is not None and n.spec.source in SEGMENT_SOURCES
               for n in ast.walk(rule.tree))
