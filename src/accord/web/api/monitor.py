"""The sync monitor in the REST API: record sync state, conflicts, errors, runs, plans."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from accord.engine.plan import Plan
from accord.service import monitor, queries
from accord.service import sync as sync_service
from accord.service.card_layout import plan_for_role
from accord.service.unleashed import check_restore
from accord.web.auth import Identity, api_editor, api_viewer
from accord.web.params import HubId, Seq
from accord.web.state import WebState, web_state

router = APIRouter(tags=["sync monitor"])


class LinkStateOut(BaseModel):
    system: str
    external_id: str | None
    state: str
    reasons: list[str]


class FieldChangeOut(BaseModel):
    seq: int
    at: str
    kind: str
    field: str
    old: Any
    new: Any
    system: str
    run_id: int | None


class RestoreIn(BaseModel):
    seq: Seq
    field: str


class ConflictOut(BaseModel):
    id: int
    system: str
    entity: str
    record_id: int
    field: str
    base_value: Any
    hub_value: Any
    system_value: Any
    policy: str
    winner: str | None
    reason: str
    status: str
    created_at: str


class ResolveIn(BaseModel):
    winner: Literal["hub", "system"]


class ErrorOut(BaseModel):
    id: int
    system: str
    entity: str
    direction: str
    record_id: int | None
    external_id: str | None
    field: str | None
    message: str
    attempts: int
    status: str


class RetryOut(BaseModel):
    cleared: bool


class RunOut(BaseModel):
    id: int
    system: str
    dry_run: bool
    status: str
    counts: dict[str, int]
    message: str | None
    started_at: str
    finished_at: str | None


class PlannedChangeOut(BaseModel):
    direction: str
    entity: str
    action: str
    record: str
    fields: list[tuple[str, Any, Any]]
    reason: str


class PlanOut(BaseModel):
    system: str
    dry_run: bool
    counts: dict[str, int]
    changes: list[PlannedChangeOut]


def conflict_out(row: Any) -> ConflictOut:
    return ConflictOut(**{name: getattr(row, name) for name in ConflictOut.model_fields})


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut(
        system=plan.system,
        dry_run=plan.dry_run,
        counts=dict(plan.counts),
        changes=[
            PlannedChangeOut(
                direction=c.direction,
                entity=c.entity,
                action=c.action,
                record=c.record,
                fields=list(c.fields),
                reason=c.reason,
            )
            for c in plan.changes
        ],
    )


@router.get("/records/{record_id}/sync", response_model=list[LinkStateOut])
def record_sync(
    record_id: HubId, identity: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[LinkStateOut]:
    return [
        LinkStateOut(
            system=s.system, external_id=s.external_id, state=s.state, reasons=list(s.reasons)
        )
        for s in monitor.record_sync_state(state.store, state.config, record_id, identity.user.role)
    ]


@router.get("/records/{record_id}/history", response_model=list[FieldChangeOut])
def record_history(
    record_id: HubId, identity: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[FieldChangeOut]:
    queries.find_record(state.store, str(record_id))
    _, changes = queries.history_for(state.store, record_id, identity.user.role)
    return [FieldChangeOut(**c.__dict__) for c in changes]


@router.post("/records/{record_id}/restore", response_model=dict[str, list[Any]])
def restore(
    record_id: HubId,
    body: RestoreIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> dict[str, list[Any]]:
    check_restore(state.config, state.store, record_id, body.seq, body.field)
    return monitor.restore_value(
        state.store,
        record_id,
        body.seq,
        body.field,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )


@router.get("/conflicts", response_model=list[ConflictOut])
def conflicts(
    all: bool = False,
    identity: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> list[ConflictOut]:
    rows = (
        queries.recent_conflicts(state.store, 200) if all else queries.open_conflicts(state.store)
    )
    return [conflict_out(r) for r in queries.conflicts_for(state.store, rows, identity.user.role)]


@router.post("/conflicts/{conflict_id}/resolve", response_model=ConflictOut)
def resolve(
    conflict_id: HubId,
    body: ResolveIn,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> ConflictOut:
    row = monitor.resolve_conflict(
        state.store,
        conflict_id,
        body.winner,
        actor=identity.user.name,
        clock=state.clock,
        role=identity.user.role,
    )
    return conflict_out(queries.conflicts_for(state.store, [row], identity.user.role)[0])


@router.get("/errors", response_model=list[ErrorOut])
def errors(
    identity: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[ErrorOut]:
    found = queries.open_errors(state.store)
    return [
        ErrorOut(**{name: getattr(r, name) for name in ErrorOut.model_fields})
        for r in queries.errors_for(state.store, found, identity.user.role)
    ]


@router.post("/errors/{error_id}/retry", response_model=RetryOut)
def retry(
    error_id: HubId, _: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> RetryOut:
    return RetryOut(
        cleared=monitor.retry_error(state.store, state.config, error_id, clock=state.clock)
    )


@router.get("/runs", response_model=list[RunOut])
def runs(
    limit: int = Query(50, ge=1, le=500),
    _: Identity = Depends(api_viewer),
    state: WebState = Depends(web_state),
) -> list[RunOut]:
    return [
        RunOut(**{name: getattr(r, name) for name in RunOut.model_fields})
        for r in queries.recent_runs(state.store, limit)
    ]


@router.get("/systems/{name}/plan", response_model=PlanOut)
def plan(
    # Editors only: a dry run reads the whole remote system and spends its API budget.
    name: str,
    identity: Identity = Depends(api_editor),
    state: WebState = Depends(web_state),
) -> PlanOut:
    planned = sync_service.run(
        state.config, name, dry_run=True, store=state.store, clock=state.clock
    )
    return plan_out(plan_for_role(state.store, planned, identity.user.role))


@router.post("/systems/{name}/sync", response_model=PlanOut)
def sync(
    name: str, identity: Identity = Depends(api_editor), state: WebState = Depends(web_state)
) -> PlanOut:
    done = sync_service.run(state.config, name, store=state.store, clock=state.clock)
    return plan_out(plan_for_role(state.store, done, identity.user.role))
