"""Test helpers: a memory-system profile, a one-call sync, Exo-shaped ERPs in a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accord.clock import Clock
from accord.config import Config, HubConfig, SystemConfig
from accord.connectors.base import Connector
from accord.engine import Plan, SyncContext, sync
from accord.mapping.profile import ConflictPolicy, ConflictRule, EntityMap, FieldMap, Profile
from accord.store import HubStore

CONTACT_FIELDS = [
    ("company", "company_key"),
    ("first_name", "first"),
    ("last_name", "last"),
    ("email", "email"),
    ("phone", "phone"),
    ("job_title", "title"),
    ("active", "active"),
]


def memory_profile(rule: ConflictRule = "field_lww", **person_options: Any) -> Profile:
    """Companies and contacts of a memory system, with native names unlike canonical ones."""
    policy = ConflictPolicy(rule=rule)
    companies = EntityMap(
        "company",
        "company",
        [FieldMap("code", "code"), FieldMap("name", "name"), FieldMap("active", "active")],
        conflict=policy,
    )
    options: dict[str, Any] = {"conflict": policy, "hub_defaults": {"kind": "contact"}}
    options.update(person_options)
    people = EntityMap("person", "person", [FieldMap(c, n) for c, n in CONTACT_FIELDS], **options)
    return Profile("memory", [companies, people])


def run_sync(
    store: HubStore,
    connector: Connector,
    profile: Profile,
    clock: Clock,
    *,
    dry_run: bool = False,
    **options: Any,
) -> Plan:
    ctx = SyncContext(store, connector, profile, connector.name, clock, dry_run=dry_run, **options)
    return sync(ctx)


def exo_erps_config(directory: Path, *names: str, batch_size: int = 50) -> Config:
    """A hub (``hub.db``) and Exo-shaped ERPs (``<name>.db``) in ``directory``, two-way;
    erp1's account numbers are the hub's codes."""
    return Config(
        hub=HubConfig(database=f"sqlite:///{directory / 'hub.db'}", database_env=None),
        systems={
            name: SystemConfig(
                kind="sql",
                preset="exo",
                url=f"sqlite:///{directory / f'{name}.db'}",
                sync="two-way",
                batch_size=batch_size,
                owns_codes=name == "erp1",
            )
            for name in names
        },
    )
