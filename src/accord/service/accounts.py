"""Account codes (S003-04) and debtor and creditor codes (S003-06).

An account is a company or a person account. Its code is unique among live accounts.
Where an enabled system owns account codes (``owns_codes``: the hub's codes are its
account numbers, read from it and never written back), a code change in the hub is
refused, naming that system: its numbering is the truth, and the next pull would put its
code back. Systems that map the code outbound receive a new code through the normal push.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from accord.clock import Clock, SystemClock, to_iso
from accord.config import Config
from accord.errors import ValidationError
from accord.presets import preset
from accord.service import hub_writes
from accord.service.card_layout import layout_in
from accord.store import HubStore
from accord.store import people as people_store
from accord.store.counters import ACCOUNT_NUMBERS, hold
from accord.store.types import HubRecord

UNCHANGED: Any = object()
ACCOUNT_CODE_FIELDS = ("code", "debtor_code", "creditor_code")
# The counter whose row lock serialises the check of a code with its write.
CODES_LOCK = ACCOUNT_NUMBERS


def is_account(record: HubRecord) -> bool:
    return record.entity == "company" or (
        record.entity == "person" and record.data.get("kind") == "account"
    )


def _account(record: HubRecord) -> HubRecord:
    if not is_account(record):
        raise ValidationError(
            f"hub record {record.id} is a contact person, not an account",
            entity=record.entity,
            key=str(record.id),
        )
    return record


def check_codes_free(conn: Connection, values: dict[str, Any], record_id: int | None) -> None:
    """Refuse an account code, debtor code or creditor code another live account has.

    Call it in the transaction that writes the codes: it holds the codes lock until that
    commits, so two accounts cannot both find a code free and take it.
    """
    key = str(record_id) if record_id is not None else None
    if any(values.get(name) not in (None, "") for name in ACCOUNT_CODE_FIELDS):
        hold(conn, CODES_LOCK)
    for name in ACCOUNT_CODE_FIELDS:
        value = values.get(name)
        if value in (None, ""):
            continue
        if name == "code":
            found = people_store.accounts_with_code(conn, str(value))
        else:
            found = people_store.accounts_with_value(conn, name, str(value))
        taken = [rid for rid in found if rid != record_id]
        if taken:
            raise ValidationError(
                f"{name.replace('_', ' ')} {value!r} is already used by hub record {taken[0]}",
                key=key,
                field=name,
            )


def code_owner(config: Config, entity: str) -> str | None:
    """The enabled system whose numbering the hub's codes of ``entity`` are, if any."""
    for name, system in config.systems.items():
        if system.sync == "off" or not system.owns_codes or system.preset is None:
            continue
        profile = preset(system.preset).profile(
            region=system.region, owns_codes=True, options=system.options
        )
        emap = profile.entity_map(entity)
        mapped = emap.field("code") if emap is not None else None
        if mapped is not None and mapped.inbound and not mapped.outbound:
            return name
    return None


def change_code(
    store: HubStore,
    config: Config,
    record_id: int,
    code: str,
    *,
    role: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
) -> dict[str, list[Any]]:
    """Give an account a new, unique code; returns the journaled change."""
    new = code.strip()
    key = str(record_id)
    if not new:
        raise ValidationError("an account code cannot be empty", key=key, field="code")
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        record = _account(hub_writes.load(conn, record_id))
        if role is not None:
            layout = layout_in(conn, record.entity, role)
            layout.check({"code": new}, record.data, key=key)
        owner = code_owner(config, record.entity)
        if owner is not None:
            raise ValidationError(
                f"account codes are {owner}'s account numbers (owns_codes): change the code"
                f" in {owner}; the next sync brings it to the hub",
                system=owner,
                entity=record.entity,
                key=key,
                field="code",
            )
        if new == record.data.get("code"):
            return {}
        check_codes_free(conn, {"code": new}, record_id)
        return hub_writes.update(conn, record, {"code": new}, actor=actor, at=at)


def set_account_codes(
    store: HubStore,
    record_id: int,
    *,
    debtor_code: str | None = UNCHANGED,
    creditor_code: str | None = UNCHANGED,
    role: str | None = None,
    actor: str = "user",
    clock: Clock | None = None,
) -> dict[str, list[Any]]:
    """Set (or clear, with None) an account's debtor and creditor codes; each is unique."""
    wanted = {
        name: (value.strip() or None) if isinstance(value, str) else value
        for name, value in (("debtor_code", debtor_code), ("creditor_code", creditor_code))
        if value is not UNCHANGED
    }
    at = to_iso((clock or SystemClock()).now())
    with store.transaction() as conn:
        record = _account(hub_writes.load(conn, record_id))
        if role is not None:
            layout = layout_in(conn, record.entity, role)
            layout.check(wanted, record.data, key=str(record_id))
        changed = {k: v for k, v in wanted.items() if v != record.data.get(k)}
        check_codes_free(conn, changed, record_id)
        return hub_writes.update(conn, record, wanted, actor=actor, at=at)
