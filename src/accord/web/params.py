"""Whole numbers the web faces take (path, query, body and form), bounded to what the
hub's columns hold, so no number reaches the database out of its range.

An id outside 1..MAX_ID names nothing: it is answered as any unknown id is (404). A
number that is a value rather than a name (a journal sequence number or a cursor over
them, a card position) is refused out of range like any other bad value (422).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from accord.errors import AccordError, ValidationError
from accord.ids import MAX_ID

MAX_POSITION = 2**31 - 1  # a card field's position is a 32-bit Integer column


def known_id(value: int) -> int:
    """``value`` if some record could have it as its id; else "no record" (404)."""
    if not 1 <= value <= MAX_ID:
        raise AccordError(f"no record has the id {value}")
    return value


# The AccordError is not a ValueError, so pydantic lets it through to the app's handler,
# which answers it as it answers "no customer 7".
HubId = Annotated[int, AfterValidator(known_id)]
Seq = Annotated[int, Field(ge=0, le=MAX_ID)]
Position = Annotated[int, Field(ge=-MAX_POSITION - 1, le=MAX_POSITION)]


def form_id(text: object, field: str) -> int:
    """A hub id typed into a form: digits only (refused otherwise, naming the field)."""
    value = str(text or "").strip()
    if not (value.isascii() and value.isdigit()):
        raise ValidationError(f"{field} must be a hub record id", field=field)
    return known_id(int(value))


def form_position(text: object, default: int) -> int:
    """A card position typed into a form; blank, not a number or out of range: ``default``."""
    value = str(text or "").strip()
    if value.isascii() and value.isdigit() and int(value) <= MAX_POSITION:
        return int(value)
    return default
