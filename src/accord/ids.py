"""The one place identifiers and idempotency markers come from."""

from __future__ import annotations

import uuid


def new_marker() -> str:
    """A marker carried by a create so a retried create finds its earlier result."""
    return uuid.uuid4().hex
