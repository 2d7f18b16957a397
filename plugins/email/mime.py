"""Assemble an RFC 5322 / MIME message quickly.

The standard library's ``email`` package parses and refolds every header through its
header registry, which costs several milliseconds per message — more than the SMTP
exchange itself. Messages here have a fixed shape, so they are written directly:

- headers: ASCII values are folded at spaces to lines of at most 78 characters;
  non-ASCII ones become RFC 2047 encoded words (``=?utf-8?b?…?=``), and in address
  headers only the display names are encoded;
- body: ``text/plain`` alone, or ``multipart/alternative`` with ``text/plain`` and
  ``text/html``, each UTF-8 and quoted-printable; lines end in CRLF.

The tests parse every message with the ``email`` package (its strict policy) to check
the output.
"""

from __future__ import annotations

import base64
import binascii
import random
from email.utils import formataddr, getaddresses

ADDRESS_HEADERS = {"from", "to", "cc", "reply-to", "sender"}
_WORD_BYTES = 42  # 42 bytes of UTF-8 → 56 base64 characters → a 68-character encoded word


def _is_ascii(value: str) -> bool:
    return value.isascii()


def _encoded_words(value: str) -> list[str]:
    """``value`` as RFC 2047 base64 encoded words, never splitting a character."""
    words, chunk = [], b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    if chunk:
        words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words]


def _fold(name: str, tokens: list[str]) -> str:
    """``Name: token token …`` folded at the spaces between tokens (78-character lines)."""
    lines, line = [], f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > 78 and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines)


def header(name: str, value: str) -> str:
    """One header field, folded and encoded as needed (no trailing CRLF)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")
    if name.lower() in ADDRESS_HEADERS and not _is_ascii(value):
        value = ", ".join(formataddr((display, address), charset="utf-8")
                          for display, address in getaddresses([value]))
    if _is_ascii(value):
        return _fold(name, value.split(" "))
    return _fold(name, _encoded_words(value))


def _quoted_printable(text: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = binascii.b2a_qp("\n".join(lines).encode("utf-8"), istext=True, header=False)
    return body.replace(b"\n", b"\r\n")


def _part(subtype: str, text: str) -> bytes:
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + _quoted_printable(text)


def assemble(headers: dict[str, str], text: str, html: str | None) -> bytes:
    """The whole message as bytes with CRLF line ends."""
    head = "".join(header(name, value) + "\r\n" for name, value in headers.items()) + "MIME-Version: 1.0\r\n"
    if html is None:
        return head.encode("ascii") + _part("plain", text)
    # "=_" never occurs in quoted-printable text, so the boundary needs no strong randomness
    boundary = f"=_crmhub_{random.getrandbits(64):016x}"
    head += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    marker = f"--{boundary}\r\n".encode("ascii")
    return (head.encode("ascii") + marker + _part("plain", text) + b"\r\n" + marker + _part("html", html)
            + f"\r\n--{boundary}--\r\n".encode("ascii"))
