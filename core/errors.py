"""The crmhub error tree.

Every error crmhub raises on purpose derives from :class:`CrmhubError`. Each carries a
*class* that tells the job layer and the API what to do with it::

    CrmhubError                      (kind: "bug" unless a subclass says otherwise)
    ├── ConfigError                  kind "config"    bad or missing configuration; exit 2, no retry
    ├── InputError                   kind "input"     bad data from a user or a file; rejected, no retry
    │   ├── NotFound                                  an id, segment or instance that does not exist
    │   └── RuleSyntaxError                           a segment rule that does not parse (line, column)
    ├── WebhookError                 kind "input"
    │   ├── WebhookRejected                           bad signature or stale timestamp -> HTTP 401
    │   └── WebhookMalformed                          body that cannot be read -> HTTP 400
    ├── RemoteError                  kind "transient" a remote API failed; carries .request/.response
    │   ├── TransientRemoteError                      429, 5xx, timeouts: retry with back-off
    │   │   └── RateLimited                           429 with .retry_after seconds
    │   └── PermanentRemoteError     kind "permanent" 4xx other than 429: retrying will not help
    │       └── RemoteAuthError      kind "config"    401/403: the credentials are wrong
    └── PermanentJobError            kind "permanent" a job that must not be retried

Messages pass through :func:`redact` so secrets from the configuration never reach a log,
a response or a dead-letter record.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal

ErrorKind = Literal["config", "input", "transient", "permanent", "bug"]

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_REDACTED = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it from any text."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


_TOKEN_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)[^\s'\",]+"),
    re.compile(r"(?i)((?:access_token|consumer_secret|consumer_key|password|api_key|secret|token)=)[^&\s'\"]+"),
]


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and every credential-looking value masked."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
    return text


class CrmhubError(Exception):
    """Root of every error crmhub raises on purpose."""

    kind: ErrorKind = "bug"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(redact(message))
        self.context = context

    @property
    def message(self) -> str:
        """The redacted message."""
        return str(self.args[0]) if self.args else ""


class ConfigError(CrmhubError):
    """The configuration is missing, unreadable or invalid. ``key`` names the culprit."""

    kind: ErrorKind = "config"

    def __init__(self, message: str, *, key: str | None = None, **context: Any) -> None:
        super().__init__(message, key=key, **context)
        self.key = key


class InputError(CrmhubError):
    """Bad input from a user, a file or an API client."""

    kind: ErrorKind = "input"


class NotFound(InputError):
    """The named thing (customer, segment, instance, job) does not exist."""


class RuleSyntaxError(InputError):
    """A segment rule that does not parse or does not type-check."""

    def __init__(self, message: str, *, line: int, column: int, rule: str = "") -> None:
        super().__init__(f"line {line}, column {column}: {message}", line=line, column=column)
        self.line = line
        self.column = column
        self.rule = rule
        self.reason = message


class WebhookError(CrmhubError):
    """A webhook delivery that cannot be accepted."""

    kind: ErrorKind = "input"
    status_code = 400


class WebhookRejected(WebhookError):
    """Bad signature, missing signature or stale timestamp: answered 401, nothing stored."""

    status_code = 401


class WebhookMalformed(WebhookError):
    """The body cannot be parsed: answered 400, nothing stored."""

    status_code = 400


class RemoteError(CrmhubError):
    """A remote API call failed. ``request`` and ``response`` are the httpx objects, if any."""

    kind: ErrorKind = "transient"

    def __init__(
        self,
        message: str,
        *,
        request: Any = None,
        response: Any = None,
        instance: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, instance=instance, **context)
        self.request = request
        self.response = response
        self.instance = instance

    @property
    def status_code(self) -> int | None:
        """HTTP status of the response, when there was one."""
        return getattr(self.response, "status_code", None)


class TransientRemoteError(RemoteError):
    """A failure that may pass: 5xx, timeouts, connection errors. Retry with back-off."""

    kind: ErrorKind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimited(TransientRemoteError):
    """HTTP 429. ``retry_after`` is the wait the remote asked for, in seconds."""


class PermanentRemoteError(RemoteError):
    """A 4xx answer other than 429: the same request will fail again."""

    kind: ErrorKind = "permanent"


class RemoteAuthError(PermanentRemoteError):
    """401/403 from the remote: the configured credentials are wrong or lack a scope."""

    kind: ErrorKind = "config"


class PermanentJobError(CrmhubError):
    """Raised by a job that must fail at once and stay visible as a dead letter."""

    kind: ErrorKind = "permanent"


def error_kind(exc: BaseException) -> ErrorKind:
    """Classify any exception: crmhub errors by their kind, everything else as a bug."""
    if isinstance(exc, CrmhubError):
        return exc.kind
    return "bug"
