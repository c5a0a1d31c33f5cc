"""References between records: system keys <-> hub ids, through the links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from accord.store import links


def hub_ids_for(
    conn: Connection, system: str, ref_entity: str, external_keys: Iterable[str]
) -> dict[str, int]:
    pairs = links.key_pairs(conn, system, ref_entity, external_ids=external_keys)
    return dict(pairs)


def external_keys_for(
    conn: Connection, system: str, ref_entity: str, hub_ids: Iterable[int]
) -> dict[int, str]:
    pairs = links.key_pairs(conn, system, ref_entity, hub_ids=hub_ids)
    return {hub_id: key for key, hub_id in pairs}


def collect(values: Iterable[dict[str, Any]], field: str) -> set[Any]:
    return {v[field] for v in values if v.get(field) is not None}
