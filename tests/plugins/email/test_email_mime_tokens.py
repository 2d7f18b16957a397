"""The message assembler (checked with the standard library's strict parser) and the link
tokens (tampering, forging, purpose)."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from crmhub.plugins.email.mime import assemble, header
from crmhub.plugins.email.tokens import InvalidToken, Purpose, TokenSigner

STRICT = email.policy.default.clone(raise_on_defect=True)


def test_a_multipart_message_with_non_ascii_text_parses_back_exactly():
    headers = {"From": "Boutique Zoë <news@shop.example.com>", "To": "Jürgen Groß <j@example.com>",
               "Subject": "Grüße 🌷" + " sehr lange Betreffzeile" * 6, "Message-ID": "<1@shop.example.com>",
               "List-Unsubscribe": "<https://hub.example.com/unsubscribe/" + "A" * 48 + ">, "
                                   "<mailto:unsubscribe@shop.example.com?subject=unsubscribe%20" + "A" * 48 + ">"}
    text = "Hallo Jürgen,\n" + "ein sehr langer Absatz ohne Umbruch " * 10 + "\n.\nEnde =3D nicht kodiert\n"
    html = "<p>Hallo Jürgen – 🌷</p>\n<p>" + "x" * 300 + "</p>"

    data = assemble(headers, text, html)

    assert all(line.endswith(b"\r") or not line for line in data.split(b"\n")[:-1])
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split("\r\n") if "hub.example.com" not in line and "mailto" not in line)
    parsed = email.message_from_bytes(data, policy=STRICT)
    assert parsed["Subject"] == headers["Subject"]
    assert parsed["To"].addresses[0].display_name == "Jürgen Groß"
    assert parsed["From"].addresses[0].display_name == "Boutique Zoë"
    assert parsed["List-Unsubscribe"] == headers["List-Unsubscribe"]
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == html


def test_a_text_only_message():
    parsed = email.message_from_bytes(assemble({"Subject": "Hi"}, "only text\n", None), policy=STRICT)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == "only text\n"


def test_header_injection_is_refused():
    with pytest.raises(ValueError, match="line break"):
        header("Subject", "Hello\r\nBcc: victim@example.com")


def test_tokens_round_trip_and_refuse_every_change():
    signer = TokenSigner(b"hub-secret")
    token = signer.sign(Purpose.CLICK, 123456789, 42, 7)

    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", token)
    claims = signer.verify(token, Purpose.CLICK)
    assert (claims.send_id, claims.customer_id, claims.extra) == (123456789, 42, 7)
    for position in range(len(token)):
        changed = token[:position] + ("B" if token[position] != "B" else "C") + token[position + 1:]
        with pytest.raises(InvalidToken):
            signer.verify(changed, Purpose.CLICK)
    with pytest.raises(InvalidToken):
        signer.verify(token, Purpose.UNSUBSCRIBE)
    with pytest.raises(InvalidToken):
        TokenSigner(b"other-secret").verify(token, Purpose.CLICK)
    for garbage in ("", "not a token", token[:-1], token + "AAAA", "é" * 48):
        with pytest.raises(InvalidToken):
            signer.verify(garbage, Purpose.CLICK)
