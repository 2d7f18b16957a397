"""The SMTP client: one reused connection, and an answer classified per message.

:meth:`SmtpSender.send` runs MAIL, RCPT and DATA itself, so it knows where a failure
happened and whether the message may have been accepted:

==========================  ========================  =====================================
what happened               outcome                   what the caller does
==========================  ========================  =====================================
250 after DATA              ``delivered``             mark sent
5xx to RCPT or DATA         ``hard``                  suppress the address (hard bounce)
4xx to RCPT or DATA         ``soft``                  retry later with back-off
connection lost in DATA     ``unknown``               never resend (it may have arrived)
cannot connect, 421, lost   :class:`SmtpUnavailable`  release the claim, stop, retry later
before RCPT
5xx to MAIL FROM, AUTH      :class:`SmtpRejected`     release the claim, stop (config)
failed, no STARTTLS
==========================  ========================  =====================================
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from typing import Literal

from crmhub.core.errors import ConfigError, TransientRemoteError, redact
from crmhub.core.settings import secret_value
from crmhub.plugins.email.settings import EmailSettings

OutcomeKind = Literal["delivered", "hard", "soft", "unknown"]
_LOST = (smtplib.SMTPServerDisconnected, OSError)


@dataclass(frozen=True)
class Outcome:
    """The server's verdict on one message."""

    kind: OutcomeKind
    code: int | None
    message: str
    stage: str

    @property
    def detail(self) -> str:
        """``"550 at rcpt: no such user"``, redacted and cut to 500 characters."""
        return redact(f"{self.code or '-'} at {self.stage}: {self.message}")[:500]


class SmtpUnavailable(TransientRemoteError):
    """The server cannot take mail now (connection refused or lost, 421, 4xx to MAIL)."""


class SmtpRejected(ConfigError):
    """The server refuses this sender whatever the recipient (5xx to MAIL FROM, bad AUTH,
    no STARTTLS): fix the configuration."""


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _kind(code: int) -> OutcomeKind:
    return "hard" if 500 <= code < 600 else "soft"


def _path(address: str) -> str:
    """``<address>`` for MAIL FROM / RCPT TO. smtplib's own quoting parses every address
    with the email package (slower than the rest of the SMTP exchange); addresses here are
    already normalised, so they are only checked for characters that break the command."""
    if any(c in address for c in "<>\r\n ") or not address.isprintable():
        raise ValueError(f"not a plain address: {address!r}")
    return f"<{address}>"


class SmtpSender:
    """Sends messages over one connection, reconnecting when the server drops it."""

    def __init__(self, settings: EmailSettings, *, key: str) -> None:
        self.settings = settings
        self.key = key
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.tls_ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{self.key}: SMTP server {s.smtp_host}:{s.smtp_port}"
        try:
            if s.security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, local_hostname=s.helo_name or None,
                                                      timeout=s.timeout, context=self._context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, local_hostname=s.helo_name or None, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise SmtpRejected(f"{where} does not offer STARTTLS", key=f"plugins.{self.key}.security")
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, secret_value(s.password))
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpRejected(f"{where} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}",
                               key=f"plugins.{self.key}.username") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpRejected(f"{where}: {exc}", key=f"plugins.{self.key}") from None
        except ssl.SSLCertVerificationError as exc:
            raise SmtpRejected(f"{where}: certificate not trusted ({exc.verify_message})",
                               key=f"plugins.{self.key}.tls_ca_file") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpUnavailable(f"{where} is unavailable: {exc}", instance=self.key) from None
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _rset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except _LOST:
            self._drop()

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """Offer one message for one recipient.

        :raises SmtpUnavailable: nothing was handed over; try again later.
        :raises SmtpRejected: the server refuses this sender at all.
        """
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.putcmd("mail", f"FROM:{_path(sender)}")
                code, reply = self._conn.getreply()
                break
            except _LOST:
                self._drop()
                if attempt == 2:
                    raise SmtpUnavailable(f"{self.key}: SMTP server dropped the connection", instance=self.key) from None
        conn = self._conn
        assert conn is not None
        if 400 <= code < 500:
            if code == 421:
                self._drop()
            else:
                self._rset()
            raise SmtpUnavailable(f"{self.key}: MAIL FROM answered {code} {_text(reply)}", instance=self.key)
        if code != 250:
            self._rset()
            raise SmtpRejected(f"{self.key}: the SMTP server refuses the sender {sender}: {code} {_text(reply)}",
                               key=f"plugins.{self.key}.from_address")
        try:
            conn.putcmd("rcpt", f"TO:{_path(recipient)}")
            code, reply = conn.getreply()
        except _LOST:
            self._drop()
            raise SmtpUnavailable(f"{self.key}: SMTP connection lost before RCPT was answered", instance=self.key) from None
        if code == 421:
            self._drop()
            raise SmtpUnavailable(f"{self.key}: RCPT answered 421 {_text(reply)}", instance=self.key)
        if code not in (250, 251):
            self._rset()
            return Outcome(_kind(code), code, _text(reply), "rcpt")
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was transferred
            self._rset()
            return Outcome(_kind(exc.smtp_code), exc.smtp_code, _text(exc.smtp_error), "data")
        except _LOST as exc:
            self._drop()
            return Outcome("unknown", None, f"connection lost during DATA: {exc}", "data")
        if code == 250:
            return Outcome("delivered", code, _text(reply), "data")
        if code == 421:
            self._drop()
            return Outcome("soft", code, _text(reply), "data")
        self._rset()
        return Outcome(_kind(code), code, _text(reply), "data")

    def close(self) -> None:
        """Say QUIT and close."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except _LOST:
                pass
            finally:
                self._conn = None
