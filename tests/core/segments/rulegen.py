"""Hypothesis strategies that write well-typed segment rules from the name catalogue."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.core.segments.factories import KINDS, RFM_SEGMENTS, SKUS, TAGS, TIERS

NUMBER_TERMS = ["orders_count", "rfm.r", "rfm.f", "rfm.m", "p_alive", "churn_risk", "health", "expected_purchases",
                "nps", 'interaction("email_opened").count', 'interaction("survey_answer").value']
MONEY_TERMS = ["total_spent", "clv", "refunded_total"]
DAYS_TERMS = ["days_since_last_order", "days_since_first_order"]
TIME_TERMS = ["first_order_at", "last_order_at", "created_at", 'interaction("email_clicked").last_at']
STRING_TERMS = {"rfm.segment": RFM_SEGMENTS, "tier": TIERS, "health_band": ["green", "amber", "red"],
                "email": ["user1@example.com", "@gmail", "shop.io"], "first_name": ["Ann", "O'Neil", "Z"]}
BOOL_TERMS = ["consent.email", "consent.sms", "opened_email", "clicked_email", 'in_segment("vip")', 'entered("vip")',
              'exited("lapsed")'] + [f'bought("{s}")' for s in SKUS] + [f'interaction("{k}")' for k in KINDS]
WINDOWED = {"orders_count", "total_spent", "nps", "opened_email", "clicked_email", 'entered("vip")', 'exited("lapsed")',
            'interaction("email_opened").count', 'interaction("survey_answer").value'} | \
           {f'bought("{s}")' for s in SKUS} | {f'interaction("{k}")' for k in KINDS}
OPS = ["==", "!=", "<", "<=", ">", ">="]


def quote(text: str) -> str:
    """A rule string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


numbers = st.one_of(st.integers(-2, 400).map(str), st.sampled_from(["0.3", "0.5", "40", "200.5", "7.5", "89.99", "1000"]))
windows = st.one_of(st.just(""), st.sampled_from([" within 7 days", " within 30 days", " within 90 days",
                                                  " within 1 week", " within 12 hours", " within 365 days"]))


@st.composite
def term(draw: st.DrawFn, names: list[str]) -> str:
    name = draw(st.sampled_from(names))
    return name + (draw(windows) if name in WINDOWED else "")


@st.composite
def leaf(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "money", "days", "time", "string", "bool", "list", "in"]))
    op = draw(st.sampled_from(OPS))
    if kind == "number":
        return f"{draw(term(NUMBER_TERMS))} {op} {draw(numbers)}"
    if kind == "money":
        return f"{draw(term(MONEY_TERMS))} {op} {draw(numbers)}"
    if kind == "days":
        return f"{draw(st.sampled_from(DAYS_TERMS))} {op} {draw(numbers)}"
    if kind == "time":
        value = draw(st.one_of(st.integers(0, 800).map(lambda d: f"days_ago({d})"),
                               st.sampled_from(['date("2025-06-01")', 'date("2024-01-01T08:00")'])))
        return f"{draw(st.sampled_from(TIME_TERMS))} {op} {value}"
    if kind == "string":
        name = draw(st.sampled_from(sorted(STRING_TERMS)))
        value = quote(draw(st.sampled_from(STRING_TERMS[name])))
        return draw(st.sampled_from([f"{name} == {value}", f"{name} != {value}", f"{name} contains {value}"]))
    if kind == "bool":
        name = draw(term(BOOL_TERMS))
        return draw(st.sampled_from([name, f"{name} == true", f"{name} != true", f"{name} == false"]))
    if kind == "list":
        name = draw(st.sampled_from(["tags", "sources"]))
        pool = TAGS if name == "tags" else ["shopify.main", "woocommerce.outlet", "hubspot.main", "x"]
        value = quote(draw(st.sampled_from(pool)))
        return draw(st.sampled_from([f"{name} contains {value}", f"{value} in {name}"]))
    name = draw(st.sampled_from(sorted(STRING_TERMS) + NUMBER_TERMS[:4] + DAYS_TERMS))
    if name in STRING_TERMS:
        values = draw(st.lists(st.sampled_from(STRING_TERMS[name]), min_size=1, max_size=3))
        written = ", ".join(quote(v) for v in values)
    else:
        written = ", ".join(draw(st.lists(numbers, min_size=1, max_size=3)))
    return f"{name} {draw(st.sampled_from(['in', 'not in']))} ({written})"


def rules() -> st.SearchStrategy[str]:
    """Rules of up to a few conditions joined by and/or/not, with parentheses."""
    return st.recursive(
        leaf(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            inner.map(lambda r: f"not {r}"),
        ),
        max_leaves=5,
    )
