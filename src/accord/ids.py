"""The one place identifiers and idempotency markers come from."""

from __future__ import annotations

import uuid


def new_marker() -> str:
    """A marker carried by a create so a retried create finds its earlier result."""
    return uuid.uuid4().hex


# Hub ids, journal sequence numbers and cursors are 64-bit integers in every hub database
# (SQLite's INTEGER, PostgreSQL's BIGINT): no record has an id above this.
MAX_ID = 2**63 - 1
