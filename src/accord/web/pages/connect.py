"""The "Connect Exact Online" button (S004-01): the OAuth2 authorization-code flow through
the web app, for admins.

The button starts a consent (``exact_connect.begin``) answering to this app's callback
route and sends the admin to Exact Online; the callback must carry the state of a consent
this admin started minutes ago, and the code is exchanged and the tokens stored by
``exact_connect.complete``, as ``accord connect exact`` does. The financial-year start is
set after connecting.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from accord.errors import AccordError
from accord.service import exact_connect
from accord.web.auth import Identity, page_admin
from accord.web.state import PendingConsent, WebState, web_state

router = APIRouter(prefix="/settings", include_in_schema=False)
CONSENT_SECONDS = 600.0


def _back(**params: str) -> RedirectResponse:
    return RedirectResponse(f"/settings?{urlencode(params)}", status_code=303)


@router.post("/systems/{name}/connect")
def start_consent(
    request: Request,
    name: str,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    now = time.monotonic()
    for key in [k for k, c in state.consents.items() if c.expires < now]:
        del state.consents[key]
    try:
        started = exact_connect.begin(
            state.config, name, str(request.url_for("exact_consent_answer"))
        )
    except AccordError as exc:
        return _back(problem=f"{name}: {exc}")
    state.consents[started.state] = PendingConsent(started, identity.user.id, now + CONSENT_SECONDS)
    return RedirectResponse(started.url, status_code=303)


@router.get("/connect/callback", name="exact_consent_answer")
def consent_answer(
    request: Request,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    params = {k: v for k, v in request.query_params.items()}
    pending = state.consents.pop(params.get("state", ""), None)
    if pending is None or pending.user_id != identity.user.id or pending.expires < time.monotonic():
        return _back(
            problem="the answer does not belong to a consent you started here in the last"
            " minutes (a forged or stale callback); nothing stored"
        )
    name = pending.authorization.system
    try:
        connected = exact_connect.complete(state.config, pending.authorization, params)
    except AccordError as exc:
        return _back(problem=f"{name}: {exc}")
    return _back(connected=name, division=str(connected.division))


@router.post("/systems/{name}/year-start")
async def year_start(
    request: Request,
    name: str,
    _: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    try:
        month_day = exact_connect.set_financial_year_start(
            state.config, name, str(form.get("financial_year_start") or "")
        )
    except AccordError as exc:
        return _back(problem=f"{name}: {exc}")
    return _back(saved=name, note=f"financial year starts on {month_day}")
