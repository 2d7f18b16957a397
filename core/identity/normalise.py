"""Normalised contact points used to match records to customers.

- Email: trimmed and lower-cased (the whole address: providers differ on local-part rules,
  so dots and ``+tags`` are kept — two addresses that differ there are two identities).
- Phone: E.164 via ``phonenumbers``, reading national numbers in the record's country
  (from its address) or the hub's ``default_region``; invalid numbers are dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: str | None) -> str | None:
    """The matching form of an email address, or None when it is not an address."""
    if not value:
        return None
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


@lru_cache(maxsize=65536)
def normalise_phone(value: str | None, region: str | None = "US") -> str | None:
    """The E.164 form of a phone number, or None when it is not a valid number."""
    if not value or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, (region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(addresses: list[dict[str, object]] | None, default: str) -> str:
    """The country code of the first address that has one, else ``default``."""
    for address in addresses or []:
        for key in ("country_code", "country"):
            code = address.get(key)
            if isinstance(code, str) and len(code) == 2:
                return code.upper()
    return default
