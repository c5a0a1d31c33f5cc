"""References between records: system keys <-> hub ids, through the links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from accord.store import links


def hub_ids_for(
    conn: Connection, system: str, ref_entity: str, external_keys: Iterable[str]
) -> dict[str, int]:
    found = links.by_external(conn, system, ref_entity, external_keys)
    return {key: link.hub_id for key, link in found.items() if link.state != "pending"}


def external_keys_for(
    conn: Connection, system: str, ref_entity: str, hub_ids: Iterable[int]
) -> dict[int, str]:
    found = links.by_hub(conn, system, ref_entity, hub_ids)
    return {
        hub_id: link.external_id
        for hub_id, link in found.items()
        if link.external_id is not None and link.state == "active"
    }


def collect(values: Iterable[dict[str, Any]], field: str) -> set[Any]:
    return {v[field] for v in values if v.get(field) is not None}
