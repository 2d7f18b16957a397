"""Signed, opaque, URL-safe tokens for the links in emails.

A token is ``base64url(payload ‖ tag)`` without padding, 48 characters:

- ``payload`` (20 bytes): format version, purpose (unsubscribe, open, click, survey),
  send id, customer id, and a small number (the link index of a click, the answer of a
  survey link);
- ``tag`` (16 bytes): HMAC-SHA256 of the payload, truncated to 128 bits, under a key
  derived from the hub's ``secret_key``.

The address never appears in a token. :func:`verify` recomputes the tag and compares it
in constant time; any change to any byte, a token of another purpose, or one signed with
another key is refused with :class:`InvalidToken`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum

from crmhub.core.errors import InputError

VERSION = 1
_LAYOUT = struct.Struct(">BBQQH")
_TAG_BYTES = 16
_CONTEXT = b"crmhub.email.links.v1"


class Purpose(IntEnum):
    """What a link does."""

    UNSUBSCRIBE = 1
    OPEN = 2
    CLICK = 3
    SURVEY = 4


class InvalidToken(InputError):
    """A link token that is malformed, tampered with, forged, or of another purpose."""


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    purpose: Purpose
    send_id: int
    customer_id: int
    extra: int = 0


def _key(secret_key: bytes) -> bytes:
    return hmac.new(secret_key, _CONTEXT, hashlib.sha256).digest()


class TokenSigner:
    """Signs and verifies tokens with a key derived from the hub's secret key."""

    def __init__(self, secret_key: bytes) -> None:
        self._mac = hmac.new(_key(secret_key), digestmod=hashlib.sha256)

    def _tag(self, payload: bytes) -> bytes:
        mac = self._mac.copy()  # the keyed state, without hashing the key again
        mac.update(payload)
        return mac.digest()[:_TAG_BYTES]

    def sign(self, purpose: Purpose, send_id: int, customer_id: int, extra: int = 0) -> str:
        """A token for one link of one message."""
        payload = _LAYOUT.pack(VERSION, int(purpose), send_id, customer_id, extra)
        return base64.urlsafe_b64encode(payload + self._tag(payload)).rstrip(b"=").decode("ascii")

    def verify(self, token: str, purpose: Purpose) -> Claims:
        """The claims of a token made by :meth:`sign` for ``purpose``.

        :raises InvalidToken: anything else.
        """
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise InvalidToken("this link is not valid") from None
        if len(raw) != _LAYOUT.size + _TAG_BYTES:
            raise InvalidToken("this link is not valid")
        payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidToken("this link is not valid")
        version, found, send_id, customer_id, extra = _LAYOUT.unpack(payload)
        if version != VERSION or found != int(purpose):
            raise InvalidToken("this link is not valid")
        return Claims(Purpose(found), send_id, customer_id, extra)
