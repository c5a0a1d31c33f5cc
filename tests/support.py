"""Test helpers: a memory-system profile and a one-call sync."""

from __future__ import annotations

from typing import Any

from accord.clock import Clock
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
