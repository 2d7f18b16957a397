"""The segment rule grammar (lark, LALR) and the parser that turns rule text into an AST.

Every syntax error becomes a :class:`~crmhub.core.errors.RuleSyntaxError` with the line
and column of the offending character, so ``crmhub segments check`` can put a caret under
it. The grammar only knows shapes; which names exist and what types they have is decided
by :mod:`crmhub.core.segments.checker`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from crmhub.core.errors import RuleSyntaxError
from crmhub.core.segments import ast

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr _OR and_expr              -> or_
?and_expr: not_expr
         | and_expr _AND not_expr           -> and_
?not_expr: _NOT not_expr                    -> not_
         | condition
?condition: "(" or_expr ")"
          | term                            -> truthy
          | term COMPARE value              -> compare
          | value COMPARE term              -> compare_reversed
          | term _IN "(" values ")"         -> in_list
          | term _NOT _IN "(" values ")"    -> not_in_list
          | term _CONTAINS value            -> contains
          | value _IN term                  -> member

term: path window?
path: segment ("." NAME)*
segment: NAME arguments?
arguments: "(" [value ("," value)*] ")"
window: _WITHIN NUMBER UNIT

values: value ("," value)* ","?
?value: STRING                              -> string
      | NUMBER                              -> number
      | TRUE                                -> true
      | FALSE                               -> false
      | DAYS_AGO "(" NUMBER ")"             -> days_ago
      | DATE "(" STRING ")"                 -> date

_OR: "or"
_AND: "and"
_NOT: "not"
_IN: "in"
_CONTAINS: "contains"
_WITHIN: "within"
TRUE: "true"
FALSE: "false"
DAYS_AGO: "days_ago"
DATE: "date"
UNIT: "days" | "day" | "weeks" | "week" | "hours" | "hour"
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/

COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\r\n]+/
"""

KEYWORDS = {"or", "and", "not", "in", "contains", "within", "true", "false"}
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
#: Largest magnitude a number literal may have (both databases compare it exactly).
MAX_NUMBER = Decimal("1e15")

_EXPECTED_WORDS = {
    "_OR": "'or'", "_AND": "'and'", "_NOT": "'not'", "_IN": "'in'", "_CONTAINS": "'contains'",
    "_WITHIN": "'within'", "COMPARE": "a comparison (==, !=, <, <=, >, >=)", "NAME": "a name",
    "NUMBER": "a number", "STRING": 'a "string"', "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "UNIT": "days, weeks or hours", "TRUE": "true", "FALSE": "false", "DOT": "'.'",
    "DAYS_AGO": "days_ago(…)", "DATE": 'date("…")', "$END": "the end of the rule",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser of the rule language (built once)."""
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _pos(meta_or_token: Any) -> tuple[int, int]:
    return int(meta_or_token.line), int(meta_or_token.column)


def decode_string(token: Any) -> str:
    """The value of a double-quoted string token (escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\t``)."""
    body = str(token)[1:-1]

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char not in _ESCAPES:
            column = int(token.column) + 1 + match.start()
            raise RuleSyntaxError(f"unknown escape '\\{char}' in a string (use \\\" or \\\\)",
                                  line=int(token.line), column=column)
        return _ESCAPES[char]

    return _ESCAPE.sub(replace, body)


def decode_number(token: Any) -> Decimal:
    """The value of a number token, refusing magnitudes the databases cannot compare."""
    try:
        value = Decimal(str(token))
    except InvalidOperation:  # pragma: no cover - the token pattern allows only digits
        raise RuleSyntaxError(f"{token} is not a number", line=int(token.line), column=int(token.column))
    if abs(value) >= MAX_NUMBER:
        raise RuleSyntaxError(f"{token} is too large (at most 15 digits before the point)",
                              line=int(token.line), column=int(token.column))
    return value


@v_args(tree=True)
class _ToAst(Transformer[Token, ast.Node]):
    """lark tree → typed AST nodes (positions kept)."""

    def or_(self, tree: Any) -> ast.Node:
        left, right = tree.children
        return ast.Or(*_pos(tree.meta), left=left, right=right)

    def and_(self, tree: Any) -> ast.Node:
        left, right = tree.children
        return ast.And(*_pos(tree.meta), left=left, right=right)

    def not_(self, tree: Any) -> ast.Node:
        return ast.Not(*_pos(tree.meta), operand=tree.children[0])

    def truthy(self, tree: Any) -> ast.Node:
        return ast.Truthy(*_pos(tree.meta), term=tree.children[0])

    def compare(self, tree: Any) -> ast.Node:
        term, op, value = tree.children
        return ast.Compare(*_pos(tree.meta), term=term, op=str(op), value=value, op_column=int(op.column))

    def compare_reversed(self, tree: Any) -> ast.Node:
        value, op, term = tree.children
        return ast.Compare(*_pos(tree.meta), term=term, op=ast.MIRROR[str(op)], value=value,
                           op_column=int(op.column))

    def in_list(self, tree: Any) -> ast.Node:
        term, values = tree.children
        return ast.InList(*_pos(tree.meta), term=term, values=values, negated=False)

    def not_in_list(self, tree: Any) -> ast.Node:
        term, values = tree.children
        return ast.InList(*_pos(tree.meta), term=term, values=values, negated=True)

    def contains(self, tree: Any) -> ast.Node:
        term, value = tree.children
        return ast.Contains(*_pos(tree.meta), term=term, value=value)

    def member(self, tree: Any) -> ast.Node:
        value, term = tree.children
        return ast.Contains(*_pos(tree.meta), term=term, value=value)

    def values(self, tree: Any) -> list[ast.Literal]:
        return list(tree.children)

    def term(self, tree: Any) -> ast.Term:
        path = tree.children[0]
        window = tree.children[1] if len(tree.children) > 1 else None
        return ast.Term(*_pos(tree.meta), parts=path, window=window)

    def path(self, tree: Any) -> list[ast.Part]:
        first, *rest = tree.children
        return [first, *(ast.Part(*_pos(name), name=str(name), arguments=None) for name in rest)]

    def segment(self, tree: Any) -> ast.Part:
        name = tree.children[0]
        arguments = tree.children[1] if len(tree.children) > 1 else None
        return ast.Part(*_pos(name), name=str(name), arguments=arguments)

    def arguments(self, tree: Any) -> list[ast.Literal]:
        return list(tree.children)

    def window(self, tree: Any) -> ast.Window:
        amount, unit = tree.children
        return ast.Window(*_pos(tree.meta), amount=decode_number(amount), unit=str(unit))

    def string(self, tree: Any) -> ast.Literal:
        token = tree.children[0]
        return ast.Literal(*_pos(token), kind="string", value=decode_string(token))

    def number(self, tree: Any) -> ast.Literal:
        token = tree.children[0]
        return ast.Literal(*_pos(token), kind="number", value=decode_number(token))

    def true(self, tree: Any) -> ast.Literal:
        return ast.Literal(*_pos(tree.children[0]), kind="boolean", value=True)

    def false(self, tree: Any) -> ast.Literal:
        return ast.Literal(*_pos(tree.children[0]), kind="boolean", value=False)

    def days_ago(self, tree: Any) -> ast.Literal:
        token = tree.children[0]
        return ast.Literal(*_pos(token), kind="days_ago", value=decode_number(tree.children[1]))

    def date(self, tree: Any) -> ast.Literal:
        token, text = tree.children
        value = decode_string(text)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?", value):
            raise RuleSyntaxError(f'date("{value}") is not an ISO date such as date("2025-01-31")',
                                  line=int(text.line), column=int(text.column))
        return ast.Literal(*_pos(token), kind="date", value=value)


def _expected(names: set[str]) -> str:
    words = sorted({_EXPECTED_WORDS.get(name, name.lower()) for name in names})
    if len(words) > 6:
        return ""
    return " (expected " + ", ".join(words) + ")" if words else ""


def _error_from(exc: UnexpectedInput, text: str) -> RuleSyntaxError:
    line = int(getattr(exc, "line", 1) or 1)
    column = int(getattr(exc, "column", 1) or 1)
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        hint = ""
        if char == "'":
            hint = ' (strings use double quotes: "…")'
        elif char == "=":
            hint = " (compare with ==)"
        elif char.isupper():
            hint = " (names and keywords are lower-case)"
        return RuleSyntaxError(f"unexpected character {char!r}{hint}", line=line, column=column, rule=text)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            return RuleSyntaxError(f"the rule ends too early{_expected(exc.expected)}", line=line,
                                   column=column, rule=text)
        hint = ""
        if token.type == "NAME" and str(token).lower() in KEYWORDS | {"is", "like"}:
            hint = " (keywords are lower-case: and, or, not, in, contains, within)"
        return RuleSyntaxError(f"unexpected {str(token)!r}{_expected(exc.expected)}{hint}", line=line,
                               column=column, rule=text)
    if isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return RuleSyntaxError("the rule ends too early", line=len(lines), column=len(lines[-1]) + 1, rule=text)
    return RuleSyntaxError(str(exc), line=line, column=column, rule=text)  # pragma: no cover


def parse(text: str) -> ast.Node:
    """Parse rule text into an AST.

    :raises RuleSyntaxError: the text does not follow the grammar (line and column of the
        first mistake; an empty rule is an error at line 1, column 1).
    """
    if not text.strip():
        raise RuleSyntaxError("the rule is empty", line=1, column=1, rule=text)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _error_from(exc, text) from None
    try:
        return _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RuleSyntaxError):
            error = exc.orig_exc
            raise RuleSyntaxError(error.reason, line=error.line, column=error.column, rule=text) from None
        raise
