"""HTTP routes of the email plugin, added to the hub's app by ``crmhub_register_routes``.

Public (the token is the credential; every token is signed with the hub's secret key):

- ``POST /unsubscribe/{token}`` — RFC 8058 one-click: the body must be the form field
  ``List-Unsubscribe=One-Click`` (urlencoded or multipart); anything else is 400.
- ``GET /unsubscribe/{token}`` — the link in the message body: unsubscribes and shows a
  confirmation page (plain HTML, no JavaScript).
- ``GET /email/open/{token}`` — the open pixel (a 1×1 GIF).
- ``GET /email/click/{token}`` — records the click, then 302 to that message's link.
- ``GET /email/survey/{token}`` — records the answer, shows a thank-you page.

A tampered or forged token gets 400 (404 when well signed but its send is gone) and
changes nothing; a click never redirects anywhere but to a link stored with the message.

Admin (when the API layer is installed): ``GET /api/v1/email/campaigns/{name}/report``,
behind the API key like every ``/api/v1`` route.
"""

from __future__ import annotations

import base64
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmhub.plugins.email import engagement, pages
from crmhub.plugins.email.report import report
from crmhub.plugins.email.tokens import InvalidToken, Purpose, TokenSigner

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex"}
ONE_CLICK = ("List-Unsubscribe", "One-Click")
_PAGE: dict[str, Any] = {"content": {"text/html": {}}}
#: What every link route may answer besides success (documented in the OpenAPI schema).
LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The token is malformed, tampered with, forged or of another purpose.", **_PAGE},
    404: {"description": "The token is well signed but its message no longer exists.", **_PAGE},
}


def _invalid(exc: InvalidToken) -> HTMLResponse:
    status = 404 if isinstance(exc, engagement.UnknownSend) else 400
    return HTMLResponse(pages.invalid(), status_code=status, headers=NO_STORE)


def _sender(hub: Hub, instance: str) -> str:
    settings: Any = hub.instances[instance].settings
    name, address = parseaddr(settings.from_address)
    return name or address


def public_router(hub: Hub) -> APIRouter:
    """The public routes (unsubscribe, open, click, survey)."""
    router = APIRouter(tags=["email"])
    signer = TokenSigner(hub.secret_key)

    def unsubscribe(token: str, method: str) -> HTMLResponse:
        try:
            done = engagement.unsubscribe(hub, signer.verify(token, Purpose.UNSUBSCRIBE), method=method)
        except InvalidToken as exc:
            return _invalid(exc)
        return HTMLResponse(pages.unsubscribed(_sender(hub, done.instance)), headers=NO_STORE)

    @router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)",
                 responses={**LINK_ERRORS, 400: {
                     "description": "The body is not List-Unsubscribe=One-Click, or the token is not valid.", **_PAGE}})
    async def unsubscribe_post(token: str, request: Request) -> HTMLResponse:
        """Withdraw email consent. The body must be ``List-Unsubscribe=One-Click``."""
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - an unparsable body is not the RFC 8058 body
            form = None
        if form is None or list(form.multi_items()) != [ONE_CLICK]:
            return HTMLResponse(pages.page("Bad request", "Expected the body List-Unsubscribe=One-Click."),
                                status_code=400, headers=NO_STORE)
        return await run_in_threadpool(unsubscribe, token, "one-click")

    @router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="Unsubscribe link", responses=LINK_ERRORS)
    def unsubscribe_get(token: str) -> HTMLResponse:
        """Withdraw email consent and show a confirmation page."""
        return unsubscribe(token, "link")

    @router.get("/email/open/{token}", summary="Open pixel", response_class=Response, responses={
        200: {"description": "A 1x1 transparent GIF.", "content": {"image/gif": {}}}, **LINK_ERRORS})
    def open_pixel(token: str) -> Response:
        """Record the first open of a message; answer a 1×1 GIF."""
        try:
            engagement.record_open(hub, signer.verify(token, Purpose.OPEN))
        except InvalidToken as exc:
            return _invalid(exc)
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    @router.get("/email/click/{token}", summary="Click redirect", response_class=RedirectResponse, status_code=302,
                responses={302: {"description": "To the link of the message the token names."}, **LINK_ERRORS})
    def click(token: str) -> Response:
        """Record a click and redirect to the message's link."""
        try:
            url = engagement.record_click(hub, signer.verify(token, Purpose.CLICK))
        except InvalidToken as exc:
            return _invalid(exc)
        return RedirectResponse(url, status_code=302, headers=NO_STORE)

    @router.get("/email/survey/{token}", response_class=HTMLResponse, summary="Survey answer", responses=LINK_ERRORS)
    def survey(token: str) -> HTMLResponse:
        """Record a survey answer and thank the customer."""
        try:
            claims = signer.verify(token, Purpose.SURVEY)
            _, settings, value = engagement.record_answer(hub, claims)
        except InvalidToken as exc:
            return _invalid(exc)
        base = hub.settings.hub.public_url.rstrip("/")
        answers = [(v, f"{base}/email/survey/{signer.sign(Purpose.SURVEY, claims.send_id, claims.customer_id, v)}")
                   for v in settings.answers]
        return HTMLResponse(pages.answered(settings.question, value, answers), headers=NO_STORE)

    return router


def admin_router(hub: Hub) -> APIRouter | None:
    """``/api/v1/email/…`` behind the API key, or None without the API layer."""
    try:
        from crmhub.core.api.deps import api_router
        from crmhub.core.api.errors import error_responses
    except ModuleNotFoundError as exc:
        if exc.name not in ("crmhub.core.api", "crmhub.core.api.deps", "crmhub.core.api.errors"):
            raise
        return None
    router: APIRouter = api_router("/email", tags=["email"])

    @router.get("/campaigns/{name}/report", summary="Campaign or flow results, treated vs control",
                responses=error_responses(404))
    def campaign_report(name: str, instance: str | None = None) -> dict[str, Any]:
        """Conversion and revenue per customer of both arms with 95% confidence intervals,
        and delivery counts (see docs/email.md)."""
        return report(hub, name, instance=instance)

    return router


def register_routes(hub: Hub, app: FastAPI) -> None:
    """Add the email routes to ``app``."""
    app.include_router(public_router(hub))
    admin = admin_router(hub)
    if admin is not None:
        app.include_router(admin)
