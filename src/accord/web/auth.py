"""Who is asking: API tokens (Bearer) or a login session cookie; roles; CSRF checks.

Dependencies for routers: ``api_viewer`` / ``api_editor`` / ``api_admin`` for the API,
``page_viewer`` / ``page_editor`` / ``page_admin`` for pages. Every request that changes
something and is authenticated by the session cookie must carry the session's CSRF token
(form field ``csrf_token`` or header ``X-CSRF-Token``); a Bearer token needs none, since
a browser never sends it by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, status

from accord.service import users as user_service
from accord.service.users import User
from accord.web.security import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, same_token
from accord.web.state import WebState, web_state


class LoginRequiredError(Exception):
    """A page asked for without a session: the handler redirects to the login page."""


@dataclass(frozen=True)
class Identity:
    user: User
    csrf: str | None  # None for API tokens


async def _check_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not same_token(given, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def session_of(request: Request, state: WebState) -> user_service.Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return user_service.session_for_cookie(state.store, cookie, clock=state.clock)


async def _api_identity(request: Request, state: WebState = Depends(web_state)) -> Identity:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = user_service.user_for_token(state.store, header[7:].strip(), clock=state.clock)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid API token", {"WWW-Authenticate": "Bearer"}
            )
        return Identity(user, None)
    session = session_of(request, state)
    if session is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in or send an API token",
            {"WWW-Authenticate": "Bearer"},
        )
    await _check_csrf(request, session.csrf)
    return Identity(session.user, session.csrf)


async def _page_identity(request: Request, state: WebState = Depends(web_state)) -> Identity:
    session = session_of(request, state)
    if session is None:
        raise LoginRequiredError()
    await _check_csrf(request, session.csrf)
    return Identity(session.user, session.csrf)


def _needs(identity: Identity, role: str) -> Identity:
    allowed = {"viewer": True, "editor": identity.user.can_edit, "admin": identity.user.is_admin}
    if not allowed[role]:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
    return identity


async def api_viewer(identity: Identity = Depends(_api_identity)) -> Identity:
    return identity


async def api_editor(identity: Identity = Depends(_api_identity)) -> Identity:
    return _needs(identity, "editor")


async def api_admin(identity: Identity = Depends(_api_identity)) -> Identity:
    return _needs(identity, "admin")


async def page_viewer(identity: Identity = Depends(_page_identity)) -> Identity:
    return identity


async def page_editor(identity: Identity = Depends(_page_identity)) -> Identity:
    return _needs(identity, "editor")


async def page_admin(identity: Identity = Depends(_page_identity)) -> Identity:
    return _needs(identity, "admin")
