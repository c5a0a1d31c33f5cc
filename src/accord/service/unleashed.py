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
from accord.errors import ConfigError, ValidationError
from accord.presets.unleashed import NAME as PRESET_NAME
from accord.presets.unleashed import Settings, settings
from accord.service import contact_sending, queries
from accord.service.contact_sending import ContactSyncState
from accord.service.records import edit_record
from accord.service.systems import open_hub, open_system
from accord.store import HubStore, links, records

NIGHTLY_ACTOR = "nightly account-manager fix"
LABEL = "Unleashed"


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


# -- sending a contact (S001-02) ----------------------------------------------------------
def push_refusal(config: Config, name: str, store: HubStore, contact_id: int) -> str | None:
    """Why the contact cannot be sent to Unleashed now (None: it can be)."""
    _unleashed(config, name)
    return contact_sending.send_refusal(config, name, store, contact_id, label=LABEL)


def push_contact(
    config: Config,
    name: str,
    contact_id: int,
    *,
    store: HubStore | None = None,
    clock: Clock | None = None,
) -> ContactSyncState:
    """The "send to Unleashed" action: push the contact now and report its state."""
    _unleashed(config, name)
    hub = store or open_hub(config)
    try:
        return contact_sending.send_contact(
            config, name, contact_id, store=hub, clock=clock, label=LABEL
        )
    finally:
        if store is None:
            hub.close()


def contact_state(store: HubStore, name: str, contact_id: int) -> ContactSyncState:
    return contact_sending.contact_state(store, name, contact_id, label=LABEL)


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


def restricts_account_managers(config: Config, name: str) -> bool:
    """Whether ``name`` holds account managers to its sales persons (S001-04)."""
    system = config.system(name)
    if system.preset != PRESET_NAME or system.sync == "off":
        return False
    try:
        return settings(system.options).account_manager_sync
    except ConfigError:
        return False  # a refused configuration syncs nothing, so it restricts nothing


def all_salespeople(store: HubStore) -> list[Choice]:
    """Every live hub sales person (the choices when no system restricts them)."""
    with store.transaction() as conn:
        found = records.changed_since(conn, "salesperson", 0, 100_000)
    choices = [
        Choice(r.id, str(r.data.get("name") or ""), r.data.get("email"))
        for r in found
        if not r.deleted and r.data.get("active") is not False
    ]
    return sorted(choices, key=lambda c: (c.name.casefold(), c.record_id))


def allowed_account_managers(config: Config, store: HubStore) -> tuple[list[Choice], list[str]]:
    """The account managers a company may be given, and the systems that narrow them.

    With account-manager sync on in one or more systems, only sales people matching a
    sales person in each of them; otherwise every live hub sales person.
    """
    systems = [n for n in config.systems if restricts_account_managers(config, n)]
    if not systems:
        return all_salespeople(store), []
    allowed = account_manager_choices(store, systems[0])
    for other in systems[1:]:
        ids = {c.record_id for c in account_manager_choices(store, other)}
        allowed = [c for c in allowed if c.record_id in ids]
    return allowed, systems


def check_account_manager(
    config: Config, store: HubStore, company_key: str, salesperson_id: int | None
) -> None:
    """Refuse an account manager no restricting system can hold (S001-04)."""
    if salesperson_id is None:
        return
    allowed, systems = allowed_account_managers(config, store)
    if not systems and salesperson_id not in {c.record_id for c in allowed}:
        raise ValidationError(
            f"no active sales person {salesperson_id}",
            entity="company",
            key=company_key,
            field="account_manager",
        )
    if systems and salesperson_id not in {c.record_id for c in allowed}:
        raise ValidationError(
            f"account manager {salesperson_id} has no matching sales person in"
            f" {', '.join(systems)} (account-manager sync is on); choose one of the listed"
            " account managers",
            entity="company",
            key=company_key,
            field="account_manager",
        )


def check_restore(config: Config, store: HubStore, record_id: int, seq: int, field: str) -> None:
    """Restoring a company's earlier account manager is a choice like any other (S001-04)."""
    if field != "account_manager":
        return
    record, changes = queries.history(store, record_id)
    if record is None or record.entity != "company":
        return
    value = next((c.new for c in changes if c.seq == seq and c.field == field), None)
    check_account_manager(config, store, str(record_id), value)


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
