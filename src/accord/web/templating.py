"""Jinja2 templates (autoescaped: every value is shown as text) and their filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import Response

from accord.clock import local_moment
from accord.web.auth import Identity
from accord.web.state import web_state

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) / 100:,.2f}"


def shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


@pass_context
def day(context: Context, text: str | None) -> str:
    """The business's calendar date of a stored UTC time; a date alone as it is."""
    return local_moment(text, context.get("time_zone") or "UTC")[:10]


@pass_context
def moment(context: Context, text: str | None) -> str:
    """A stored UTC time on the business's clock (``[hub] time_zone``), to the minute."""
    return local_moment(text, context.get("time_zone") or "UTC")


templates.env.filters.update(money=money, shown=shown, day=day, moment=moment)


def render(
    request: Request,
    template: str,
    identity: Identity | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    context.setdefault("title", "Accord")
    context.setdefault("time_zone", web_state(request).config.hub.time_zone)
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": identity.user if identity else None,
            "csrf": identity.csrf if identity else None,
            **context,
        },
        status_code=status_code,
    )
