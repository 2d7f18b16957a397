"""A real SMTP server on loopback (aiosmtpd) that records messages and answers by rule.

``rules`` maps a recipient address to the replies it gets, in order: a string is a
permanent reply (``"550 5.1.1 no such user"``), a list is consumed one reply per attempt
and the address is accepted once it is empty (``["451 4.3.0 busy"] * 2``). Rules apply to
RCPT; ``data_rules`` apply to the end of DATA in the same way. ``hold[address]`` is a
``threading.Event``: the message to that address is recorded, then the final answer
waits until the event is set (``held`` lists who waits) — a server that got the whole
message from a client that may die before reading the answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    def parsed(self) -> email.message.EmailMessage:
        """The message, parsed with the modern policy."""
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records accepted messages, answers RCPT/DATA by rule."""

    rules: dict[str, Any] = field(default_factory=dict)
    data_rules: dict[str, Any] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    hold: dict[str, threading.Event] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _reply(table: dict[str, Any], address: str) -> str | None:
        rule = table.get(address.lower())
        if isinstance(rule, list):
            return rule.pop(0) if rule else None
        return rule

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        with self.lock:
            self.attempts[address.lower()] += 1
            reply = self._reply(self.rules, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for address in envelope.rcpt_tos:
                reply = self._reply(self.data_rules, address)
                if reply:
                    return reply
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                          or envelope.content))
        for address in envelope.rcpt_tos:
            gate = self.hold.get(address.lower())
            if gate is not None:
                self.held.append(address.lower())
                while not gate.is_set():
                    await asyncio.sleep(0.01)
        return "250 2.0.0 accepted"

    def per_recipient(self) -> Counter[str]:
        """How many messages each address received."""
        with self.lock:
            return Counter(rcpt.lower() for message in self.messages for rcpt in message.rcpt_tos)

    def to(self, address: str) -> list[Received]:
        """Messages received by one address."""
        with self.lock:
            return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]


class SmtpServer:
    """A started :class:`Controller` with its handler; ``with SmtpServer() as server: …``."""

    def __init__(self, **kwargs: Any) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for the certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def password_authenticator(user: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting exactly one user and password."""
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = getattr(auth_data, "login", b"") or b""
        secret = getattr(auth_data, "password", b"") or b""
        return AuthResult(success=(login.decode(), secret.decode()) == (user, password), handled=False)

    return authenticate
