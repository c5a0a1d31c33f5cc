"""Integration settings in the REST API: reading is for everyone, changing for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from accord.config import SystemConfig
from accord.service import queries
from accord.service.system_settings import update_system
from accord.web.auth import Identity, api_admin, api_viewer
from accord.web.state import WebState, web_state

router = APIRouter(prefix="/systems", tags=["settings"])


class SystemOut(BaseModel):
    name: str
    kind: str
    preset: str | None
    sync: str
    conflict: str | None
    schedule_push: str
    schedule_pull: str
    options: dict[str, Any]
    linked: int
    open_conflicts: int
    open_errors: int


class SystemChange(BaseModel):
    sync: str | None = None
    options: dict[str, Any] | None = None
    schedule_push: str | None = None
    schedule_pull: str | None = None


def _out(name: str, system: SystemConfig, counts: tuple[int, int, int]) -> SystemOut:
    return SystemOut(
        name=name,
        kind=system.kind,
        preset=system.preset,
        sync=system.sync,
        conflict=system.conflict,
        schedule_push=system.schedule.push,
        schedule_pull=system.schedule.pull,
        options=system.options,
        linked=counts[0],
        open_conflicts=counts[1],
        open_errors=counts[2],
    )


def _counts(state: WebState) -> dict[str, tuple[int, int, int]]:
    _, systems = queries.status(state.store, state.config)
    return {s.name: (s.linked, s.open_conflicts, s.open_errors) for s in systems}


@router.get("", response_model=list[SystemOut])
def list_systems(
    _: Identity = Depends(api_viewer), state: WebState = Depends(web_state)
) -> list[SystemOut]:
    counts = _counts(state)
    return [_out(name, system, counts[name]) for name, system in state.config.systems.items()]


@router.patch("/{name}", response_model=SystemOut)
def change_system(
    name: str,
    body: SystemChange,
    _: Identity = Depends(api_admin),
    state: WebState = Depends(web_state),
) -> SystemOut:
    updated = update_system(
        state.config,
        name,
        sync=body.sync,
        options=body.options,
        push=body.schedule_push,
        pull=body.schedule_pull,
    )
    return _out(name, updated, _counts(state)[name])
