"""The people generator is deterministic, varied, and makes overlapping identities."""

from __future__ import annotations

import re

from crmhub.core.testing.people import format_phone, generate_people, overlapping


def test_same_seed_same_people_other_seed_other_people() -> None:
    assert generate_people(40, seed=7) == generate_people(40, seed=7)
    assert generate_people(40, seed=7) != generate_people(40, seed=8)


def test_emails_unique_after_normalisation_and_phones_varied() -> None:
    people = generate_people(600, seed=1)
    emails = [p.email_normalized for p in people]
    assert len(set(emails)) == len(emails)
    assert any(p.email != p.email_normalized for p in people), "some mixed-case e-mails"
    phones = [p.phone for p in people if p.phone]
    assert any(ph.startswith("+") and " " not in ph for ph in phones), "E.164 forms"
    assert any("(" in ph for ph in phones) and any("-" in ph for ph in phones)
    assert any(p.phone is None for p in people), "some people have no phone"
    assert len({p.address.country_code for p in people}) >= 6
    assert any(not p.name.isascii() for p in people), "non-ASCII names"
    for person in people:
        if person.phone_e164:
            assert re.fullmatch(r"\+\d{8,15}", person.phone_e164)
            assert re.sub(r"\D", "", person.phone or "").endswith(person.phone_national or "")


def test_overlap_is_the_same_person_written_differently() -> None:
    people = generate_people(100, seed=3)
    again = overlapping(people, share=0.3, seed=5)
    assert len(again) == 30
    by_key = {p.key: p for p in people}
    for variant in again:
        original = by_key[variant.key]
        assert variant.email != original.email
        assert variant.email_normalized == original.email_normalized
        assert variant.phone_e164 == original.phone_e164
        if original.phone is not None:
            assert variant.phone != original.phone
    assert overlapping(people, 0.3, seed=5) == again


def test_format_phone_styles() -> None:
    assert format_phone("US", "4155550123", 0) == "+14155550123"
    assert format_phone("US", "4155550123", 1) == "(415) 555-0123"
    assert format_phone("DE", "15112345678", 1) == "0151 12345678"
