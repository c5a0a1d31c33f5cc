"""Sending one hub contact to a system on request ("send to ERP", S001-02).

Systems whose profile creates contacts only on request (``create_in_system =
"on_request"``: Unleashed, Exact Online by default) never get a hub contact by
themselves; a person sends it. That is allowed only when the contact's company is
linked to an active customer there, and the contact shows its sync state afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.clock import Clock
from accord.config import Config
from accord.errors import AccordError, ValidationError
from accord.mapping.profile import EntityMap
from accord.presets import preset
from accord.service import sync as sync_service
from accord.store import HubStore, bookkeeping, links, records
from accord.store.types import HubRecord


@dataclass(frozen=True)
class ContactSyncState:
    """How one hub contact stands with a system: what the contact's card shows."""

    record_id: int
    system: str
    state: str  # "not sent" | "sending" | "synced"
    external_id: str | None = None
    errors: list[tuple[str | None, str]] = field(default_factory=list)
    label: str = ""  # how the system calls itself in messages ("Unleashed")

    def describe(self) -> str:
        text = f"contact {self.record_id} in {self.system}: {self.state}"
        if self.external_id:
            # Unleashed keys are contact@customer; the contact's own id is shown.
            text += f" ({self.label or self.system} contact {self.external_id.partition('@')[0]})"
        for name, message in self.errors:
            text += f"\n  {name or 'record'}: {message}"
        return text


def _contact_map(config: Config, name: str) -> EntityMap | None:
    system = config.system(name)
    if system.preset is None or system.sync != "two-way":
        return None
    kwargs: dict[str, object] = {
        "region": system.region,
        "owns_codes": system.owns_codes,
        "options": system.options,
    }
    if system.conflict:
        kwargs["conflict"] = system.conflict
    profile = preset(system.preset).profile(**kwargs)
    return next((m for m in profile.entities if m.entity == "person"), None)


def send_targets(config: Config) -> list[str]:
    """The systems a person sends contacts to: two-way, contacts created only on request."""
    found = []
    for name in config.systems:
        try:
            contacts = _contact_map(config, name)
        except AccordError:
            continue  # a system the configuration cannot serve is shown by the settings page
        if contacts is not None and contacts.push and contacts.create_in_system == "on_request":
            found.append(name)
    return found


def _record(store: HubStore, record_id: int) -> HubRecord:
    with store.transaction() as conn:
        record = records.get(conn, record_id)
    if record is None:
        raise AccordError(f"no hub record {record_id}", key=str(record_id))
    return record


def send_refusal(
    config: Config,
    name: str,
    store: HubStore,
    contact_id: int,
    *,
    label: str | None = None,
) -> str | None:
    """Why the contact cannot be sent to ``name`` now (None: it can be)."""
    label = label or name
    contacts = _contact_map(config, name)
    if contacts is None or not contacts.push:
        return f"two-way sync with {label} is off"
    if contacts.create_in_system != "on_request":
        return f"{label} is not sent contacts on request (its profile: {contacts.create_in_system})"
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
        return f"company {company.id} is not linked to {_a(label)} customer"
    if company.deleted or company.data.get("active") is False or link.base.get("active") is False:
        return f"company {company.id}'s {label} customer is not active"
    return None


def _a(label: str) -> str:
    return f"an {label}" if label[:1].lower() in "aeiou" else f"a {label}"


def send_contact(
    config: Config,
    name: str,
    contact_id: int,
    *,
    store: HubStore,
    clock: Clock | None = None,
    label: str | None = None,
) -> ContactSyncState:
    """Push the contact to ``name`` now (refused with the reason), and report its state."""
    reason = send_refusal(config, name, store, contact_id, label=label)
    if reason is not None:
        raise ValidationError(
            f"cannot send to {label or name}: {reason}", entity="person", key=str(contact_id)
        )
    sync_service.run(
        config, name, store=store, clock=clock, requested={contact_id}, pull=False, push=True
    )
    return contact_state(store, name, contact_id, label=label or "")


def contact_state(
    store: HubStore, name: str, contact_id: int, *, label: str = ""
) -> ContactSyncState:
    with store.transaction() as conn:
        link = links.by_hub(conn, name, "person", [contact_id]).get(contact_id)
        errors = [
            (row.field, row.message)
            for row in bookkeeping.open_errors(conn, name, "person", "push")
            if row.record_id == contact_id
        ]
    if link is None or link.state == "tombstone":
        return ContactSyncState(contact_id, name, "not sent", None, errors, label)
    state = "synced" if link.state == "active" else "sending"
    return ContactSyncState(contact_id, name, state, link.external_id, errors, label)


@dataclass(frozen=True)
class SendOption:
    """A system the contact can be sent to: its state there and why it cannot be now."""

    system: str
    state: ContactSyncState
    refusal: str | None


def send_options(config: Config, store: HubStore, contact_id: int) -> list[SendOption]:
    """What the contact's card offers: one "send" action per system taking contacts on request."""
    options = []
    for name in send_targets(config):
        state = contact_state(store, name, contact_id)
        refusal: str | None
        if state.state == "synced":
            refusal = f"already in {name}: later edits reach it with the normal push"
        else:
            refusal = send_refusal(config, name, store, contact_id)
        options.append(SendOption(name, state, refusal))
    return options
