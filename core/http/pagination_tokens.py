"""Typed, resumable page tokens and the :class:`Page` a paginator yields.

A sync stores ``page.next_token`` with the records of ``page`` (one transaction) and, after a
crash, passes it back as ``start``. Tokens are frozen pydantic models tagged by ``kind``, so
``token.model_dump_json()`` round-trips through :func:`load_token`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Token(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LinkToken(_Token):
    """Resume at this exact next-page URL (it carries every parameter it needs)."""

    kind: Literal["link"] = "link"
    next_url: str


class PageNumberToken(_Token):
    """Resume at this page number."""

    kind: Literal["page"] = "page"
    page: int = Field(ge=0)


class CursorToken(_Token):
    """Resume with this cursor value."""

    kind: Literal["cursor"] = "cursor"
    cursor: str


PageToken = Annotated[LinkToken | PageNumberToken | CursorToken, Field(discriminator="kind")]
_TOKEN_ADAPTER: TypeAdapter[LinkToken | PageNumberToken | CursorToken] = TypeAdapter(PageToken)
T = TypeVar("T", LinkToken, PageNumberToken, CursorToken)


def load_token(data: str | bytes | Mapping[str, Any]) -> LinkToken | PageNumberToken | CursorToken:
    """Read back a stored token from its JSON text (``token.model_dump_json()``) or a dict."""
    if isinstance(data, (str, bytes)):
        return _TOKEN_ADAPTER.validate_json(data)
    return _TOKEN_ADAPTER.validate_python(dict(data))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: the response, its items and where it sits in the sequence.

    ``token`` fetched this page (``None`` for the initial request); ``next_token`` resumes
    right after it (``None`` on the last page). ``total`` and ``total_pages`` are what the
    server reports, when it does.
    """

    response: httpx.Response
    items: list[Any]
    token: T | None
    next_token: T | None
    total: int | None = None
    total_pages: int | None = None
