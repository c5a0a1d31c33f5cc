"""Idempotent account creates in Exact Online: the create's marker carried in ``Code``.

Exact has no field long enough for the marker itself, but an account's ``Code`` is unique
(Exact refuses a second account with the same code) and can be read back with
``$filter``. A create the hub makes therefore sends a code derived from its marker (or the
code the profile gives): repeating the create after a lost answer or a crash finds the
account the first attempt made instead of making another.

The derivation is one-way, so to tell the pull which hub record an account belongs to,
the codes of the creates still in flight are derived again from the markers of the hub's
pending links for the system.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import Engine, select

from accord.store.schema import links

CODE_DIGITS = 18  # an Exact account code is 18 characters, numeric, right-aligned
_LOWEST = 10 ** (CODE_DIGITS - 1)
# 18-digit numbers only (about 60 bits): apart from the short codes Exact numbers
# accounts with, and from each other with a negligible chance of collision.
_SPAN = 9 * _LOWEST

MarkerSource = Callable[[], list[str]]


def marker_code(marker: str) -> str:
    """The 18-digit account code a create with this idempotency marker sends."""
    digest = hashlib.sha256(marker.encode()).digest()
    return str(_LOWEST + int.from_bytes(digest[:8], "big") % _SPAN)


def padded(code: str) -> str:
    """As Exact stores and filters it: right-aligned with leading spaces."""
    return code.strip().rjust(CODE_DIGITS)


def codes_in_flight(markers: list[str]) -> dict[str, str]:
    """Derived code -> marker, for the markers of creates not yet recorded."""
    return {marker_code(m): m for m in markers}


def pending_markers(engine: Engine, system: str) -> MarkerSource:
    """Reads the markers of ``system``'s pending creates from the hub (a narrow query)."""

    def read() -> list[str]:
        query = select(links.c.marker).where(
            links.c.system == system,
            links.c.state == "pending",
            links.c.marker.is_not(None),
        )
        with engine.connect() as conn:
            return [str(m) for m in conn.execute(query).scalars()]

    return read
