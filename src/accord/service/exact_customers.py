"""Creating a hub customer in Exact Online on request (S004-06).

The preset creates customers in Exact only when asked ("on_request"): this asks for one
and runs a push, so the create goes through the engine like any other write (write-ahead
link, validation, errors named by field) and the new account is linked to the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.clock import Clock
from accord.config import Config
from accord.errors import AccordError
from accord.service import sync as sync_service
from accord.service.exact_connect import exact_system
from accord.store import HubStore, bookkeeping, links, records


@dataclass
class Created:
    account_id: str
    refused: list[str]  # "field: reason" for values Exact would not take (left out)


def create_customer(
    config: Config, name: str, store: HubStore, hub_id: int, clock: Clock | None = None
) -> Created:
    """Create hub company ``hub_id`` in Exact Online and link it to the new account.

    A value Exact refuses is left out (and reported) rather than blocking the customer."""
    exact_system(config, name)
    with store.transaction() as conn:
        record = records.get(conn, hub_id)
        existing = links.by_hub(conn, name, "company", [hub_id]).get(hub_id)
    if record is None or record.entity != "company":
        raise AccordError(f"no hub customer {hub_id}")
    if record.deleted or record.data.get("active") is False:
        raise AccordError(f"hub customer {hub_id} is inactive: not created in Exact Online")
    if existing is not None and existing.state == "active" and existing.external_id:
        return Created(existing.external_id, [])
    sync_service.run(config, name, store=store, clock=clock, pull=False, requested=[hub_id])
    with store.transaction() as conn:
        link = links.by_hub(conn, name, "company", [hub_id]).get(hub_id)
        problems = [
            e
            for e in bookkeeping.open_errors(conn, name, "company", "push")
            if e.record_id == hub_id
        ]
    reasons = [f"{e.field or 'record'}: {e.message}" for e in problems]
    if link is not None and link.state == "active" and link.external_id:
        return Created(link.external_id, reasons)
    raise AccordError(
        f"Exact Online did not create hub customer {hub_id}: {'; '.join(reasons) or 'no reason given'}"
    )
