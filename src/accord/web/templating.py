"""Jinja2 templates (autoescaped: every value is shown as text) and their filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from accord.web.auth import Identity

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


def day(text: str | None) -> str:
    return "" if not text else str(text)[:10]


def moment(text: str | None) -> str:
    return "" if not text else str(text)[:16].replace("T", " ")


templates.env.filters.update(money=money, shown=shown, day=day, moment=moment)


def render(
    request: Request,
    template: str,
    identity: Identity | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    context.setdefault("title", "Accord")
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
