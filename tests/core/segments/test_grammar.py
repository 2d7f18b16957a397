"""The rule language: what parses, what type-checks, and where errors point."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlalchemy import func, select

from crmhub.core.errors import RuleSyntaxError
from crmhub.core.models import Customer
from crmhub.core.segments import ast
from crmhub.core.segments.checker import check_rule
from crmhub.core.segments.compiler import member_query
from crmhub.core.segments.grammar import parse
from crmhub.core.segments.names import CATALOGUE
from tests.conftest import T0
from tests.core.segments.helpers import add_customer
from tests.core.segments.rulegen import rules

PINNED = ["email", "tags", "orders_count", "total_spent", "first_order_at", "last_order_at", "days_since_last_order",
          "consent.email", "sources", "rfm.r", "rfm.f", "rfm.m", "rfm.segment", "tier", "clv", "p_alive",
          "churn_risk", "health"]


def error_of(text: str, **kwargs) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as caught:
        check_rule(text, **kwargs)
    return caught.value


def test_every_pinned_name_is_in_the_catalogue():
    assert set(PINNED) <= set(CATALOGUE)


def test_the_spec_example_parses_into_the_expected_tree():
    rule = check_rule('orders_count >= 2 and consent.email and rfm.segment in ("Champions", "Loyal")')
    outer = rule.tree
    assert isinstance(outer, ast.And) and isinstance(outer.right, ast.InList)
    assert [v.value for v in outer.right.values] == ["Champions", "Loyal"]
    assert isinstance(outer.left, ast.And) and isinstance(outer.left.left, ast.Compare)
    assert outer.left.left.term.key == "orders_count" and outer.left.left.op == ">="


@pytest.mark.parametrize("text", [
    'rfm.segment in ("At Risk", "Can\'t Lose Them") and clv > 200 and consent.email',
    'bought("SKU-1") within 90 days', "orders_count within 30 days >= 2", "opened_email within 30 days",
    'interaction("survey_answer").value within 90 days <= 6', "nps <= 6", 'entered("vip") within 7 days',
    '"shopify.main" in sources', 'tags contains "vip"', "last_order_at < days_ago(90)",
    'not (tier == "core" or tier == "potential")', "days_since_last_order not in (1, 2,)",
    "clv > -5", "p_alive <= 0.25", "consent.email == false", 'first_order_at >= date("2025-01-01")',
    "orders_count >= 2  # a comment\n  and consent.email", "total_spent within 2 weeks > 0",
    'interaction("email_opened").count within 12 hours >= 1',
])
def test_readable_rules_parse_and_type_check(text):
    assert check_rule(text).tree is not None


def test_precedence_is_not_then_and_then_or():
    tree = parse("consent.email or not consent.sms and tags contains \"a\"")
    assert isinstance(tree, ast.Or)
    assert isinstance(tree.right, ast.And) and isinstance(tree.right.left, ast.Not)


@pytest.mark.parametrize("text, line, column, words", [
    ("orders_count >= ", 1, 17, "ends too early"),
    ("orders_count >> 2", 1, 15, "unexpected"),
    ("tags contains 'vip'", 1, 15, "double quotes"),
    ("orders_count = 2", 1, 14, "=="),
    ("orders_count > 2 AND consent.email", 1, 18, "lower-case"),
    ("consent.email and\n  (orders_count > 2", 2, 20, "ends too early"),
    ("consent.email and\n  orders_count > \"5\"", 2, 18, "number"),
    ('orders_count > "5"', 1, 16, "is a number"),
    ('rfm.segment > "Loyal"', 1, 13, "only == and != apply"),
    ('tier in ("core", 5)', 1, 18, "is a string"),
    ("orders_count", 1, 1, "not a condition"),
    ("consent.email > 1", 1, 17, "yes/no"),
    ("clv > days_ago(3)", 1, 7, "money"),
    ("last_order_at < 90", 1, 17, "days_ago"),
    ('tags == "vip"', 1, 1, "contains"),
    ("orders_cont > 2", 1, 1, "did you mean orders_count"),
    ("rfm.segmnt == \"x\"", 1, 1, "did you mean rfm.segment"),
    ("bought within 30 days", 1, 1, "needs an argument"),
    ('tier within 30 days == "core"', 1, 6, "no 'within'"),
    ("orders_count within 0 days > 1", 1, 14, "longer than zero"),
    ("orders_count > 12345678901234567", 1, 16, "too large"),
    ('email contains 5', 1, 16, "string"),
    ('bought(5)', 1, 8, "takes a \"string\""),
    ('bought("a", "b")', 1, 1, "takes 1 argument"),
    ('date("yesterday") < last_order_at', 1, 6, "ISO date"),
    ('tags contains "a\\qb"', 1, 17, "unknown escape"),
    ("", 1, 1, "empty"),
])
def test_mistakes_point_at_their_line_and_column(text, line, column, words):
    error = error_of(text)
    assert (error.line, error.column) == (line, column), error.message
    assert words in error.reason
    assert error.message.startswith(f"line {line}, column {column}: ")


def test_references_to_unknown_segments_are_errors_when_segments_are_known():
    error = error_of('entered("vipp") within 7 days', known_segments={"vip"})
    assert (error.line, error.column) == (1, 9) and "unknown segment" in error.reason
    assert check_rule('entered("vip")', known_segments={"vip"}).segments == {"vip"}


HOSTILE = ['x"; DROP TABLE customer; --', "'); DELETE FROM consent; --", "a' OR '1'='1",
           "Robert'); DROP TABLE segment;--", "x' UNION SELECT id FROM customer --", "\\'\\\"%_*"]


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("hostile", HOSTILE)
def test_quotes_and_sql_in_strings_stay_data(hub, hostile):
    # Given customers whose email and tags hold the hostile text, and one who does not
    with hub.transaction() as session:
        target = add_customer(session, hostile, now=T0, tags=[hostile])
        other = add_customer(session, "plain@example.com", now=T0, tags=["plain"])
    # When rules compare with that text
    for text in [f"email == {quote(hostile)}", f"tags contains {quote(hostile)}", f"{quote(hostile)} in tags",
                 f"email in ({quote(hostile)}, \"z\")", f"email contains {quote(hostile[1:])}"]:
        rule = check_rule(text)
        with hub.transaction() as session:
            found = set(session.execute(member_query(rule, now=T0, dialect=hub.dialect)).scalars())
        # Then the text is matched as data: exactly the customer who holds it
        assert found == {target}, text
    with hub.transaction() as session:
        assert session.execute(select(func.count()).select_from(Customer.__table__)).scalar_one() == 2
    assert other != target


@pytest.mark.parametrize("text", [
    "email; DROP TABLE customer", "orders_count > 1; DELETE FROM customer", "orders_count > 1 -- comment",
    "customer.id > 0", "tags contains \"a\" or 1=1", "\"x\" == \"x\"", "orders_count > 1 /* x */",
    "`customer`", "email == \"a\" union select", "status == \"erased\"",
])
def test_sql_written_as_names_or_syntax_is_an_error(text):
    error = error_of(text)
    assert error.line >= 1 and error.column >= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_either_checks_or_fails_with_a_position(text):
    try:
        check_rule(text)
    except RuleSyntaxError as error:
        lines = text.splitlines() or [""]
        assert 1 <= error.line <= max(1, len(lines) + 1)
        assert error.column >= 1


@settings(max_examples=100, deadline=None)
@given(rules())
def test_generated_rules_check(text):
    check_rule(text)
