"""Typed nodes of a parsed segment rule. Every node knows its line and column.

The parser builds them; the checker resolves each :class:`Term` against the name
catalogue (setting ``spec``, ``arguments`` and ``kind``) and gives each node its type; the
compiler and the plain-Python evaluator both walk the checked tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal as TypingLiteral

LiteralKind = TypingLiteral["string", "number", "boolean", "days_ago", "date"]
#: ``5 < x`` is read as ``x > 5``.
MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass
class Node:
    """Base of every node: the 1-based line and column where it starts."""

    line: int
    column: int


@dataclass
class Literal(Node):
    """A value written in the rule: a string, number, true/false, ``days_ago(N)`` or
    ``date("YYYY-MM-DD")``. ``value`` is str, Decimal, bool, Decimal (days) or str (ISO)."""

    kind: LiteralKind
    value: Any


@dataclass
class Window(Node):
    """``within N days|weeks|hours`` attached to a term."""

    amount: Decimal
    unit: str

    @property
    def hours(self) -> Decimal:
        """The window's length in hours."""
        per = {"hour": 1, "hours": 1, "day": 24, "days": 24, "week": 168, "weeks": 168}[self.unit]
        return self.amount * per


@dataclass
class Part(Node):
    """One dotted part of a name: ``rfm`` in ``rfm.segment``, ``bought("X")`` with arguments."""

    name: str
    arguments: list[Literal] | None


@dataclass
class Term(Node):
    """A name (possibly called and dotted) with an optional window, e.g.
    ``interaction("survey_answer").value within 90 days``.

    Set by the checker: ``spec`` (the catalogue entry), ``arguments`` (plain values)."""

    parts: list[Part]
    window: Window | None
    spec: Any = field(default=None, repr=False, compare=False)
    arguments: list[Any] = field(default_factory=list, compare=False)

    @property
    def key(self) -> str:
        """The catalogue key: parts joined by dots, ``()`` after called parts."""
        return ".".join(p.name + ("()" if p.arguments is not None else "") for p in self.parts)

    @property
    def text(self) -> str:
        """The name as an admin would read it in a message."""
        return ".".join(p.name + ("(…)" if p.arguments is not None else "") for p in self.parts)


@dataclass
class Or(Node):
    """``left or right``."""

    left: Node
    right: Node


@dataclass
class And(Node):
    """``left and right``."""

    left: Node
    right: Node


@dataclass
class Not(Node):
    """``not operand``."""

    operand: Node


@dataclass
class Truthy(Node):
    """A boolean term used as a condition: ``consent.email``."""

    term: Term


@dataclass
class Compare(Node):
    """``term op value`` (``value op term`` is stored mirrored)."""

    term: Term
    op: str
    value: Literal
    op_column: int = 0


@dataclass
class InList(Node):
    """``term in (v1, v2, …)`` or ``term not in (…)``."""

    term: Term
    values: list[Literal]
    negated: bool = False


@dataclass
class Contains(Node):
    """``list_term contains value``, ``value in list_term`` or ``string_term contains "x"``."""

    term: Term
    value: Literal


def walk(node: Node) -> list[Node]:
    """Every node of a tree, depth first."""
    found: list[Node] = [node]
    for child in children(node):
        found.extend(walk(child))
    return found


def children(node: Node) -> list[Node]:
    """The direct child nodes of ``node``."""
    if isinstance(node, (Or, And)):
        return [node.left, node.right]
    if isinstance(node, Not):
        return [node.operand]
    if isinstance(node, (Truthy, Compare, InList, Contains)):
        return [node.term]
    return []
