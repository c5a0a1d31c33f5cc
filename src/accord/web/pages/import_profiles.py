"""The import-profiles editor (S004-02..04), for admins: list, open, edit the
field-by-field mapping, key field and mode, save, save as new, run and read the report.

Everything goes through ``service.import_profiles``, the same service as ``accord profile``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from accord.errors import AccordError
from accord.model.entities import entity_spec
from accord.service import import_profiles as profiles
from accord.service.import_profiles import (
    HUB_ENTITY,
    MODES,
    SOURCE_FIELDS,
    SOURCE_FOR,
    ImportProfile,
    Mode,
    RunReport,
)
from accord.web.auth import Identity, page_admin
from accord.web.params import HubId
from accord.web.state import WebState, web_state
from accord.web.templating import render

router = APIRouter(prefix="/settings/import-profiles", include_in_schema=False)
MODE_LABELS = {"import": "Import", "import_update": "Import & update", "update": "Update"}


def hub_fields(target: str) -> list[str]:
    """The hub fields a profile can fill: every field of the target but references, except
    a contact's company (found through its Exact account)."""
    spec = entity_spec(HUB_ENTITY[target])
    return [
        name
        for name, field in spec.fields.items()
        if field.kind != "ref" or (target == "contact" and name == "company")
    ]


def _exact_systems(state: WebState) -> list[str]:
    return [n for n, s in state.config.systems.items() if s.kind == "exact"]


@router.get("")
def profile_list(
    request: Request,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    found = profiles.list_profiles(state.store)
    last = {p.id: next(iter(profiles.last_runs(state.store, p.id, 1)), None) for p in found if p.id}
    return render(
        request,
        "settings/import_profiles.html",
        identity,
        profiles=found,
        last=last,
        systems=_exact_systems(state),
        title="Import profiles",
    )


def _editor(
    request: Request,
    identity: Identity,
    state: WebState,
    profile: ImportProfile,
    *,
    mode: str = "import_update",
    report: RunReport | None = None,
    error: AccordError | None = None,
    message: str = "",
) -> Response:
    return render(
        request,
        "settings/import_profile.html",
        identity,
        status_code=422 if error else 200,
        profile=profile,
        hub_fields=hub_fields(profile.target),
        source_fields=SOURCE_FIELDS[profile.source],
        systems=_exact_systems(state),
        modes=[(m, MODE_LABELS[m]) for m in MODES],
        mode=mode,
        report=report,
        runs=profiles.last_runs(state.store, profile.id) if profile.id else [],
        error=error,
        message=message or request.query_params.get("message", ""),
        title=profile.title or "New import profile",
    )


@router.get("/new")
def new_profile(
    request: Request,
    target: str = "company",
    system: str = "",
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    target = target if target in SOURCE_FOR else "company"
    systems = _exact_systems(state)
    chosen = system if system in systems else (systems[0] if systems else "")
    blank = ImportProfile("", chosen, target, SOURCE_FOR[target], {}, "ID")  # type: ignore[arg-type]
    return _editor(request, identity, state, blank)


@router.get("/{profile_id}")
def open_profile(
    request: Request,
    profile_id: HubId,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    return _editor(request, identity, state, profiles.get(state.store, profile_id))


def _from_form(form: FormData, profile_id: int | None) -> ImportProfile:
    target = str(form.get("target") or "company")
    target = target if target in SOURCE_FOR else "company"
    mapping = {
        name: str(form.get(f"map.{name}")) for name in hub_fields(target) if form.get(f"map.{name}")
    }
    return ImportProfile(
        str(form.get("title") or ""),
        str(form.get("system") or ""),
        target,  # type: ignore[arg-type]
        SOURCE_FOR[target],  # type: ignore[arg-type]
        mapping,
        str(form.get("key_field") or "ID"),
        profile_id,
    )


async def _act(
    request: Request, identity: Identity, state: WebState, profile_id: int | None
) -> Response:
    form = await request.form()
    profile = _from_form(form, profile_id)
    action = str(form.get("action") or "save")
    mode_text = str(form.get("mode") or "import_update")
    mode: Mode = next((m for m in MODES if m == mode_text), "import_update")
    try:
        if action == "save_as_new":
            profile = profiles.save_as_new(
                state.store, profile, str(form.get("new_title") or ""), state.clock
            )
            return RedirectResponse(
                f"/settings/import-profiles/{profile.id}?message=Saved+as+a+new+profile.",
                status_code=303,
            )
        if profile.system not in _exact_systems(state):
            raise AccordError(f"choose an Exact Online system, not {profile.system!r}")
        profile = profiles.save(state.store, profile, state.clock)
        if action != "run":
            return RedirectResponse(
                f"/settings/import-profiles/{profile.id}?message=Saved.", status_code=303
            )
        # The run reads Exact Online over HTTP: off the event loop.
        report = await run_in_threadpool(
            profiles.run, state.config, state.store, profile, mode, state.clock
        )
    except AccordError as exc:
        return _editor(request, identity, state, profile, mode=mode, error=exc)
    counts = ", ".join(f"{n} {k}" for k, n in report.counts.items())
    return _editor(
        request, identity, state, profile, mode=mode, report=report, message=f"Ran: {counts}."
    )


@router.post("")
async def create_profile(
    request: Request,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    return await _act(request, identity, state, None)


@router.post("/{profile_id}")
async def change_profile(
    request: Request,
    profile_id: HubId,
    identity: Identity = Depends(page_admin),
    state: WebState = Depends(web_state),
) -> Response:
    profiles.get(state.store, profile_id)  # an unknown id is a 404, not a new profile
    return await _act(request, identity, state, profile_id)
