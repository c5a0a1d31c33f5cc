"""The Delete form of a record's card: a box to tick, so a stray click deletes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from accord.errors import ValidationError
from accord.service import records as record_service
from accord.web.auth import Identity
from accord.web.state import WebState

SURE = "yes"  # the value of the ticked box


def delete_confirmed(
    form: FormData,
    state: WebState,
    identity: Identity,
    record_id: int,
    entity: str,
    listing: str,
) -> RedirectResponse:
    """Delete the record once the form's box is ticked, then show ``listing`` with a note.

    Raises ValidationError naming the box when it was not ticked (the card shows it)."""
    if form.get("sure") != SURE:
        raise ValidationError("tick the box to confirm the delete", field="sure")
    label = record_service.delete_record(
        state.store, record_id, entity=entity, actor=identity.user.name, clock=state.clock
    )
    note = f"Deleted {label or f'{entity} {record_id}'}."
    return RedirectResponse(f"{listing}?{urlencode({'message': note})}", status_code=303)
