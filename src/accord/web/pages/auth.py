"""Log in and out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from accord.service import users as user_service
from accord.web.auth import Identity, page_viewer, session_of
from accord.web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, same_token
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another one.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target  # browsers read "/\evil.example" as another host
        and target.isprintable()
    ):
        return target
    return "/customers"


def _login_page(
    request: Request, state: WebState, status_code: int = 200, **context: str | None
) -> Response:
    """The login form with a fresh token, also set as a cookie: a post must carry both
    (a page on another site can make a browser post, but cannot read the token)."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_csrf=token,
        title="Log in",
        **context,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=_secure(request, state),
    )
    return response


def _secure(request: Request, state: WebState) -> bool:
    return (
        state.secure_cookies if state.secure_cookies is not None else request.url.scheme == "https"
    )


@router.get("/login")
def login_form(
    request: Request, next: str | None = None, state: WebState = Depends(web_state)
) -> Response:
    if session_of(request, state):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, state, next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/customers"),
    csrf_token: str = Form(""),
    state: WebState = Depends(web_state),
) -> Response:
    target = _safe_next(next)
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE) or ""):
        return _login_page(
            request,
            state,
            403,
            next=target,
            name=name,
            error="The form expired. Please log in again.",
        )
    address = request.client.host if request.client else "unknown"
    if state.limiter.blocked(address, name):
        return _login_page(
            request,
            state,
            429,
            next=target,
            name=name,
            error="Too many failed attempts. Wait a few minutes and try again.",
        )
    user = user_service.authenticate(state.store, name, password)
    if user is None:
        state.limiter.failed(address, name)
        return _login_page(
            request, state, 401, next=target, name=name, error="Wrong name or password."
        )
    cookie, _ = user_service.start_session(state.store, user, clock=state.clock)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(user_service.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=_secure(request, state),
        samesite="lax",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, _: Identity = Depends(page_viewer), state: WebState = Depends(web_state)
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user_service.end_session(state.store, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/customers", status_code=303)
