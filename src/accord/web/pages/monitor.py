"""Sync monitor pages: runs, errors with retry, conflicts to resolve, plans, field history."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from accord.errors import AccordError
from accord.service import monitor, queries
from accord.service import sync as sync_service
from accord.service.card_layout import plan_for_role
from accord.service.unleashed import check_restore
from accord.web.auth import Identity, page_editor, page_viewer
from accord.web.params import HubId, Seq
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/monitor")
def overview(
    request: Request,
    message: str = "",
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    totals, systems = queries.status(state.store, state.config)
    return render(
        request,
        "monitor/overview.html",
        identity,
        totals=totals,
        systems=systems,
        runs=queries.recent_runs(state.store, 20),
        errors=queries.errors_for(
            state.store, queries.open_errors(state.store), identity.user.role
        ),
        conflicts=queries.conflicts_for(
            state.store, queries.open_conflicts(state.store), identity.user.role
        ),
        message=message,
        title="Sync monitor",
    )


@router.post("/monitor/conflicts/{conflict_id}")
def resolve(
    conflict_id: HubId,
    winner: str = Form(...),
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    if winner not in ("hub", "system"):
        raise AccordError(f"choose the hub's or the system's value for conflict {conflict_id}")
    row = monitor.resolve_conflict(
        state.store,
        conflict_id,
        "hub" if winner == "hub" else "system",
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    note = f"Conflict {conflict_id} resolved: {row.field} keeps the {winner} value."
    return RedirectResponse(f"/monitor?{urlencode({'message': note})}#conflicts", status_code=303)


@router.post("/monitor/errors/{error_id}/retry")
def retry(
    error_id: HubId, _: Identity = Depends(page_editor), state: WebState = Depends(web_state)
) -> Response:
    cleared = monitor.retry_error(state.store, state.config, error_id, clock=state.clock)
    note = (
        f"Error {error_id} cleared."
        if cleared
        else f"Error {error_id} is still open after the retry."
    )
    return RedirectResponse(f"/monitor?{urlencode({'message': note})}#errors", status_code=303)


@router.get("/monitor/plan/{name}")
def plan(
    request: Request,
    name: str,
    # Editors only: a dry run reads the whole remote system and spends its API budget.
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    result = sync_service.run(
        state.config, name, dry_run=True, store=state.store, clock=state.clock
    )
    shown = plan_for_role(state.store, result, identity.user.role)
    return render(
        request, "monitor/plan.html", identity, plan=shown, name=name, title=f"Plan for {name}"
    )


@router.post("/monitor/sync/{name}")
def sync(
    name: str, _: Identity = Depends(page_editor), state: WebState = Depends(web_state)
) -> Response:
    result = sync_service.run(state.config, name, store=state.store, clock=state.clock)
    note = f"Sync of {name} done: {result.writes} writes, {result.total('conflict')} conflicts, {result.total('error')} errors."
    return RedirectResponse(f"/monitor?{urlencode({'message': note})}", status_code=303)


@router.get("/records/{record_id}/history")
def history(
    request: Request,
    record_id: HubId,
    identity: Identity = Depends(page_viewer),
    state: WebState = Depends(web_state),
) -> Response:
    queries.find_record(state.store, str(record_id))
    record, changes = queries.history_for(state.store, record_id, identity.user.role)
    return render(
        request,
        "monitor/history.html",
        identity,
        record=record,
        changes=list(reversed(changes)),
        links=monitor.record_sync_state(state.store, state.config, record_id, identity.user.role),
        title=f"History of record {record_id}",
    )


@router.post("/records/{record_id}/restore")
def restore(
    record_id: HubId,
    seq: Annotated[Seq, Form()],
    field: str = Form(...),
    identity: Identity = Depends(page_editor),
    state: WebState = Depends(web_state),
) -> Response:
    check_restore(state.config, state.store, record_id, seq, field)
    monitor.restore_value(
        state.store,
        record_id,
        seq,
        field,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return RedirectResponse(f"/records/{record_id}/history", status_code=303)
