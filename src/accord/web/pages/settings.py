"""Settings pages: systems, their sync switches and schedules (changes: admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from accord.errors import AccordError, ConfigError
from accord.service import exact_connect, queries
from accord.service.system_settings import Key, changes, switches, update_system
from accord.web.auth import Identity, page_admin, page_viewer
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(prefix="/settings", include_in_schema=False)


def _page(
    request: Request,
    identity: Identity,
    state: WebState,
    error: ConfigError | None = None,
    saved: str = "",
) -> Response:
    _, status = queries.status(state.store, state.config)
    connections: dict[str, object] = {}
    for name, system in state.config.systems.items():
        if system.kind == "exact":
            try:
                connections[name] = exact_connect.connection(state.config, name)
            except AccordError as exc:
                connections[name] = str(exc)  # e.g. the token key is not set
    return render(
        request,
        "settings.html",
        identity,
        status_code=422 if error else 200,
        systems=state.config.systems,
        switches={name: switches(system) for name, system in state.config.systems.items()},
        status={s.name: s for s in status},
        error=error,
        saved=saved,
        connections=connections,
        title="Settings",
    )


@router.get("")
def settings_page(
    request: Request,
    saved: str = "",
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    return _page(request, identity, state, saved=saved)


@router.post("/systems/{name}")
async def change(
    request: Request,
    name: str,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    form = await request.form()
    current = state.config.system(name)
    # Checkboxes post nothing when off: every boolean switch the system has is set from the form.
    options = {key: form.get(f"option.{key}") == "on" for key, _ in switches(current)}
    try:
        update_system(
            state.config,
            name,
            sync=str(form.get("sync") or current.sync),
            options=options,
            push=str(form.get("push") or current.schedule.push),
            pull=str(form.get("pull") or current.schedule.pull),
            shown=_shown(form),
        )
    except ConfigError as exc:
        return _page(request, identity, state, error=exc)
    return RedirectResponse(f"/settings?saved={name}", status_code=303)


def _shown(form: FormData) -> dict[Key, Any]:
    """The values the form showed (its hidden ``shown.*`` fields), by setting."""
    return changes(
        sync=_text(form, "shown.sync"),
        push=_text(form, "shown.push"),
        pull=_text(form, "shown.pull"),
        options={
            key.removeprefix("shown.option."): value == "on"
            for key, value in form.items()
            if key.startswith("shown.option.")
        },
    )


def _text(form: FormData, key: str) -> str | None:
    value = form.get(key)
    return value if isinstance(value, str) else None
