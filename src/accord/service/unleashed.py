"""What the CRM <-> Unleashed integration offers a person (CLI, API, web app).

* Sending one hub contact to Unleashed on request (S001-02): allowed only when the
  contact's company is linked to an active Unleashed customer; the push runs with the
  contact requested, and its sync state is shown afterwards.
* Account managers (S001-04): with account-manager sync on, the choices are the hub's
  sales people that have a matching Unleashed sales person, and any other is refused.
* The nightly account-manager fix (S001-05): every linked company takes the account
  manager Unleashed holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from accord.clock import Clock, SystemClock, to_iso
from accord.config import Config
from accord.connectors.unleashed import CUSTOMERS
from accord.errors import AccordError, ConfigError, ValidationError
from accord.presets.unleashed import NAME as PRESET_NAME
from accord.presets.unleashed import Settings, settings
from accord.service import sync as sync_service
from accord.service.records import edit_record
from accord.service.systems import open_hub, open_system
from accord.store import HubStore, bookkeeping, links, records

NIGHTLY_ACTOR = "nightly account-manager fix"


@dataclass(frozen=True)
class ContactSyncState:
    """How one hub contact stands with Unleashed: what the contact record shows."""

    record_id: int
    system: str
    state: str  # "not sent" | "sending" | "synced"
    external_id: str | None = None
    errors: list[tuple[str | None, str]] = field(default_factory=list)

    def describe(self) -> str:
        text = f"contact {self.record_id} in {self.system}: {self.state}"
        if self.external_id:
            text += f" (Unleashed contact {self.external_id.partition('@')[0]})"
        for name, message in self.errors:
            text += f"\n  {name or 'record'}: {message}"
        return text


@dataclass(frozen=True)
class Choice:
    record_id: int
    name: str
    email: str | None


@dataclass
class FixReport:
    enabled: bool
    checked: int = 0
    fixed: list[tuple[int, Any, Any]] = field(default_factory=list)  # (company, old, new)
    unresolved: int = 0  # sales persons not linked to the hub yet

    def summary(self) -> str:
        if not self.enabled:
            return "nightly account-manager fix is off (nightly_account_manager_fix = false)"
        text = f"checked {self.checked} companies, set {len(self.fixed)} account managers"
        if self.unresolved:
            text += f"; {self.unresolved} Unleashed sales persons are not linked yet"
        return text


def _unleashed(config: Config, name: str) -> Settings:
    system = config.system(name)
    if system.preset != PRESET_NAME:
        raise ConfigError(f"system uses preset {system.preset!r}, not {PRESET_NAME}", system=name)
    return settings(system.options)


def _record(store: HubStore, record_id: int) -> Any:
    with store.transaction() as conn:
        record = records.get(conn, record_id)
    if record is None:
        raise AccordError(f"no hub record {record_id}")
    return record


# -- sending a contact (S001-02) ----------------------------------------------------------
def push_refusal(config: Config, name: str, store: HubStore, contact_id: int) -> str | None:
    """Why the contact cannot be sent to Unleashed now (None: it can be)."""
    chosen = _unleashed(config, name)
    if config.system(name).sync != "two-way" or not chosen.two_way:
        return "two-way sync with Unleashed is off"
    contact = _record(store, contact_id)
    if contact.entity != "person":
        return f"record {contact_id} is a {contact.entity}, not a contact"
    if contact.deleted or contact.data.get("active") is False:
        return f"contact {contact_id} is inactive or deleted"
    company_id = contact.data.get("company")
    if company_id is None:
        return f"contact {contact_id} has no company"
    company = _record(store, int(company_id))
    with store.transaction() as conn:
        link = links.by_hub(conn, name, "company", [company.id]).get(company.id)
    if link is None or link.state != "active":
        return f"company {company.id} is not linked to an Unleashed customer"
    if company.deleted or company.data.get("active") is False or link.base.get("active") is False:
        return f"company {company.id}'s Unleashed customer is not active"
    return None


def push_contact(
    config: Config,
    name: str,
    contact_id: int,
    *,
    store: HubStore | None = None,
    clock: Clock | None = None,
) -> ContactSyncState:
    """The "send to Unleashed" action: push the contact now and report its state."""
    hub = store or open_hub(config)
    try:
        reason = push_refusal(config, name, hub, contact_id)
        if reason is not None:
            raise ValidationError(f"cannot send to Unleashed: {reason}", key=str(contact_id))
        sync_service.run(
            config, name, store=hub, clock=clock, requested={contact_id}, pull=False, push=True
        )
        return contact_state(hub, name, contact_id)
    finally:
        if store is None:
            hub.close()


def contact_state(store: HubStore, name: str, contact_id: int) -> ContactSyncState:
    with store.transaction() as conn:
        link = links.by_hub(conn, name, "person", [contact_id]).get(contact_id)
        errors = [
            (row.field, row.message)
            for row in bookkeeping.open_errors(conn, name, "person", "push")
            if row.record_id == contact_id
        ]
    if link is None or link.state == "tombstone":
        return ContactSyncState(contact_id, name, "not sent", None, errors)
    state = "synced" if link.state == "active" else "sending"
    return ContactSyncState(contact_id, name, state, link.external_id, errors)


# -- account managers (S001-04) -------------------------------------------------------------
def account_manager_choices(store: HubStore, name: str) -> list[Choice]:
    """Hub sales people with a matching (linked, active) Unleashed sales person."""
    with store.transaction() as conn:
        pairs = list(links.external_ids(conn, name, "salesperson"))
        found = records.get_many(conn, [hub_id for _, hub_id in pairs])
    choices = [
        Choice(r.id, str(r.data.get("name") or ""), r.data.get("email"))
        for r in found.values()
        if not r.deleted and r.data.get("active") is not False
    ]
    return sorted(choices, key=lambda c: (c.name.casefold(), c.record_id))


def set_account_manager(
    config: Config,
    name: str,
    company_id: int,
    salesperson_id: int | None,
    *,
    store: HubStore,
    clock: Clock | None = None,
    actor: str = "user",
) -> dict[str, list[Any]]:
    """Set a company's account manager, refusing one Unleashed cannot hold."""
    chosen = _unleashed(config, name)
    if chosen.account_manager_sync and salesperson_id is not None:
        allowed = {c.record_id for c in account_manager_choices(store, name)}
        if salesperson_id not in allowed:
            raise ValidationError(
                f"account manager {salesperson_id} has no matching Unleashed sales person;"
                " choose one of the listed account managers",
                key=str(company_id),
                field="account_manager",
            )
    return edit_record(
        store, company_id, {"account_manager": salesperson_id}, actor=actor, clock=clock
    )


# -- the nightly fix (S001-05) ----------------------------------------------------------------
def fix_account_managers(
    config: Config, name: str, *, store: HubStore | None = None, clock: Clock | None = None
) -> FixReport:
    """Set every linked company's account manager to the one Unleashed holds."""
    if not _unleashed(config, name).nightly_account_manager_fix:
        return FixReport(enabled=False)
    report = FixReport(enabled=True)
    hub = store or open_hub(config)
    connector, _ = open_system(config, name, clock)
    try:
        for batch in connector.read_changes(CUSTOMERS, None, 1000):
            _fix_batch(hub, name, batch.records, report, clock)
    finally:
        connector.close()
        if store is None:
            hub.close()
    return report


def _fix_batch(
    store: HubStore, name: str, batch: list[Any], report: FixReport, clock: Clock | None
) -> None:
    if not batch:
        return
    with store.transaction() as conn:
        known = links.by_external(conn, name, "company", [r.key for r in batch])
        people = dict(
            links.key_pairs(
                conn,
                name,
                "salesperson",
                external_ids={
                    r.values["SalesPerson"] for r in batch if r.values.get("SalesPerson")
                },
            )
        )
        companies = records.get_many(conn, [link.hub_id for link in known.values()])
    for rec in batch:
        link = known.get(rec.key)
        if link is None or link.state != "active" or link.hub_id not in companies:
            continue
        report.checked += 1
        guid = rec.values.get("SalesPerson")
        if guid and guid not in people:
            report.unresolved += 1
            continue
        wanted = people.get(guid) if guid else None
        company = companies[link.hub_id]
        if company.data.get("account_manager") == wanted:
            continue
        edit_record(
            store, company.id, {"account_manager": wanted}, actor=NIGHTLY_ACTOR, clock=clock
        )
        report.fixed.append((company.id, company.data.get("account_manager"), wanted))
        # Unleashed already holds this value: the agreed base says so, so it is not sent back.
        if "account_manager" in link.base:
            with store.transaction() as conn:
                current = links.by_hub(conn, name, "company", [company.id])[company.id]
                updated = replace(current, base={**current.base, "account_manager": wanted})
                links.save(conn, [updated], to_iso((clock or SystemClock()).now()))
