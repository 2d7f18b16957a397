"""Error bodies and request helpers shared by the fake HubSpot's endpoints.

HubSpot answers errors as ``{"status": "error", "message": …, "correlationId": …,
"category": …}`` and rate-limit refusals as ``{"status": "error", "message": "You have reached
your secondly limit.", "errorType": "RATE_LIMIT", "policyName": …}`` with status 429.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crmhub.core.testing.fake_service import json_response

__all__ = ["hs_error", "props_param", "rate_error", "read_json"]


def hs_error(
    status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any
) -> Response:
    """A HubSpot error response."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return json_response(body, status)


async def read_json(request: Request) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def props_param(request: Request) -> list[str] | None:
    """The ``properties`` query parameter (comma-separated or repeated), or None."""
    values = request.query_params.getlist("properties")
    names = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return names or None


def rate_error(message: str, policy: str) -> Response:
    """A 429 answer naming the limit (``policyName``) that was hit."""
    return json_response(
        {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        },
        429,
    )
