"""Import profiles (S004-02..04): saved, reusable imports from Exact Online into the hub.

A profile has a title, a target (hub company or contact), a source (Exact account or
contact), a field-by-field mapping (hub field <- Exact field) and a key field: the Exact
field that names a record. The key's value is looked up in the hub field it is mapped to;
an unmapped ``ID`` key lands in ``custom.exact_id`` (without a key of its own, the ERP id
is the key). Every imported record also keeps its Exact ID in ``custom.exact_id``, which
is how contacts find their company (S004-04).

Modes (S004-02): ``import`` creates records new to the hub and skips known ones;
``import_update`` creates new and updates known ones; ``update`` only updates known ones.
A run reports every record as created, updated, skipped or failed, with the reason; a bad
value is left out of its record and named, never blocking the others. Hub writes go
through the journal like any edit (actor ``import:<title>``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from accord.clock import Clock, SystemClock, to_iso
from accord.config import Config
from accord.connectors.exact import odata_time, open_api
from accord.errors import AccordError, ConfigError, ValidationError
from accord.model.entities import entity_spec
from accord.model.normalise import normalise_value
from accord.service.exact_connect import exact_system, token_store
from accord.service.records import create_record, edit_record
from accord.store import HubStore, links, records
from accord.store.exact_schema import import_profiles, import_runs
from accord.store.types import HubRecord

Target = Literal["company", "contact"]
Source = Literal["account", "contact"]
Mode = Literal["import", "import_update", "update"]
MODES: tuple[Mode, ...] = ("import", "import_update", "update")
EXACT_ID = "custom.exact_id"
HUB_ENTITY = {"company": "company", "contact": "person"}
SOURCE_FOR = {"company": "account", "contact": "contact"}
SOURCE_PATH = {"account": "sync/CRM/Accounts", "contact": "sync/CRM/Contacts"}
# The documented fields of each Exact source (Exact Online REST API, CRM resources).
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "account": (
        "ID", "Code", "Name", "Phone", "PhoneExtension", "Email", "Website", "Fax",
        "AddressLine1", "AddressLine2", "AddressLine3", "City", "Postcode", "State",
        "Country", "CountryName", "AccountManager", "AccountManagerFullName", "MainContact",
        "Status", "IsSales", "IsSupplier", "Blocked", "Created", "Modified",
    ),
    "contact": (
        "ID", "Account", "AccountName", "FirstName", "MiddleName", "LastName", "FullName",
        "Initials", "Title", "TitleDescription", "JobTitleDescription", "Email",
        "BusinessEmail", "Phone", "PhoneExtension", "BusinessPhone", "Mobile",
        "BusinessMobile", "BusinessFax", "Notes", "IsMainContact", "Created", "Modified",
    ),
}  # fmt: skip


@dataclass
class ImportProfile:
    title: str
    system: str
    target: Target
    source: Source
    mapping: dict[str, str]  # hub field -> Exact field
    key_field: str = "ID"
    id: int | None = None

    @property
    def hub_key(self) -> str:
        """The hub field holding the key's value."""
        for hub_field, exact_field in self.mapping.items():
            if exact_field == self.key_field:
                return hub_field
        return EXACT_ID


@dataclass
class Outcome:
    key: str
    label: str
    outcome: Literal["created", "updated", "skipped", "failed"]
    reason: str = ""
    record_id: int | None = None


@dataclass
class RunReport:
    profile: ImportProfile
    mode: Mode
    outcomes: list[Outcome] = field(default_factory=list)
    id: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(o.outcome for o in self.outcomes)
        return {name: found.get(name, 0) for name in ("created", "updated", "skipped", "failed")}


# -- saving, listing, editing -------------------------------------------------------------
def validate(profile: ImportProfile) -> None:
    if not profile.title.strip():
        raise ConfigError("an import profile needs a title")
    if profile.target not in HUB_ENTITY:
        raise ConfigError(f"target must be company or contact, not {profile.target!r}")
    if SOURCE_FOR[profile.target] != profile.source:
        raise ConfigError(
            f"a {profile.target} profile imports from Exact {SOURCE_FOR[profile.target]}s,"
            f" not {profile.source}s"
        )
    spec = entity_spec(HUB_ENTITY[profile.target])
    fields = SOURCE_FIELDS[profile.source]
    if not profile.mapping:
        raise ConfigError("an import profile maps at least one field")
    for hub_field, exact_field in profile.mapping.items():
        hub_spec = spec.spec_for(hub_field)
        if hub_spec.kind == "ref" and not (hub_field == "company" and exact_field == "Account"):
            raise ConfigError(
                f"{hub_field} refers to another record: only a contact's company can be"
                " mapped (from Account)",
                field=hub_field,
            )
        if exact_field not in fields:
            raise ConfigError(
                f"Exact {profile.source}s have no field {exact_field!r}", field=hub_field
            )
    if profile.key_field not in fields:
        raise ConfigError(f"Exact {profile.source}s have no key field {profile.key_field!r}")
    if profile.key_field != "ID" and profile.key_field not in profile.mapping.values():
        raise ConfigError(
            f"map the key field {profile.key_field} to a hub field (or use ID as the key)"
        )


def save(store: HubStore, profile: ImportProfile, clock: Clock | None = None) -> ImportProfile:
    """Create the profile, or update it when it has an id (an existing, selected one)."""
    validate(profile)
    at = to_iso((clock or SystemClock()).now())
    values = {
        "title": profile.title.strip(),
        "system": profile.system,
        "target": profile.target,
        "source": profile.source,
        "mapping": dict(profile.mapping),
        "key_field": profile.key_field,
        "updated_at": at,
    }
    with store.transaction() as conn:
        clash = conn.execute(
            select(import_profiles.c.id).where(import_profiles.c.title == values["title"])
        ).scalar()
        if clash is not None and clash != profile.id:
            raise ConfigError(f"an import profile titled {values['title']!r} exists already")
        if profile.id is None:
            new_id = conn.execute(
                insert(import_profiles).values(created_at=at, **values)
            ).inserted_primary_key
            assert new_id is not None
            profile.id = int(new_id[0])
        else:
            done = conn.execute(
                update(import_profiles).where(import_profiles.c.id == profile.id).values(**values)
            )
            if done.rowcount == 0:
                raise AccordError(f"no import profile {profile.id}")
    return profile


def save_as_new(
    store: HubStore, profile: ImportProfile, title: str, clock: Clock | None = None
) -> ImportProfile:
    """A copy under a new title (the original is left as it was)."""
    copy = ImportProfile(
        title,
        profile.system,
        profile.target,
        profile.source,
        dict(profile.mapping),
        profile.key_field,
    )
    return save(store, copy, clock)


def list_profiles(store: HubStore) -> list[ImportProfile]:
    with store.transaction() as conn:
        rows = conn.execute(select(import_profiles).order_by(import_profiles.c.title)).all()
    return [_profile(row) for row in rows]


def get(store: HubStore, ref: str | int) -> ImportProfile:
    """A profile by id or by title."""
    column = import_profiles.c.id if str(ref).isdigit() else import_profiles.c.title
    value: Any = int(ref) if str(ref).isdigit() else str(ref)
    with store.transaction() as conn:
        row = conn.execute(select(import_profiles).where(column == value)).first()
    if row is None:
        raise AccordError(f"no import profile {ref!r}")
    return _profile(row)


def last_runs(store: HubStore, profile_id: int, limit: int = 10) -> list[Any]:
    with store.transaction() as conn:
        return list(
            conn.execute(
                select(import_runs)
                .where(import_runs.c.profile_id == profile_id)
                .order_by(import_runs.c.id.desc())
                .limit(limit)
            ).all()
        )


def _profile(row: Any) -> ImportProfile:
    return ImportProfile(
        row.title, row.system, row.target, row.source, dict(row.mapping), row.key_field, row.id
    )


# -- running --------------------------------------------------------------------------------
def run(
    config: Config,
    store: HubStore,
    profile: ImportProfile,
    mode: Mode,
    clock: Clock | None = None,
) -> RunReport:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    validate(profile)
    clock = clock or SystemClock()
    started = to_iso(clock.now())
    rows = _read_source(config, store, profile)
    report = RunReport(profile, mode)
    importer = _Importer(config, store, profile, mode, clock)
    for row in rows:
        report.outcomes.append(importer.one(row))
    if profile.id is not None:
        with store.transaction() as conn:
            new_id = conn.execute(
                insert(import_runs).values(
                    profile_id=profile.id,
                    mode=mode,
                    started_at=started,
                    finished_at=to_iso(clock.now()),
                    counts=report.counts,
                    outcomes=[
                        {"key": o.key, "label": o.label, "outcome": o.outcome, "reason": o.reason}
                        for o in report.outcomes
                    ],
                )
            ).inserted_primary_key
            report.id = int(new_id[0]) if new_id else None
    return report


def _read_source(config: Config, store: HubStore, profile: ImportProfile) -> list[dict[str, Any]]:
    system = exact_system(config, profile.system)
    wanted = sorted({*profile.mapping.values(), profile.key_field, "ID"})
    if profile.source == "contact":
        wanted = sorted({*wanted, "Account"})
    api = open_api(profile.system, system, token_store(store, profile.system))
    try:
        params = {"$select": ",".join(wanted), "$filter": "Timestamp gt 1L"}
        return [row for page in api.pages(SOURCE_PATH[profile.source], params) for row in page]
    finally:
        api.close()


class _Importer:
    def __init__(
        self, config: Config, store: HubStore, profile: ImportProfile, mode: Mode, clock: Clock
    ) -> None:
        self.store = store
        self.profile = profile
        self.mode = mode
        self.clock = clock
        self.entity = HUB_ENTITY[profile.target]
        self.spec = entity_spec(self.entity)
        self.region = config.system(profile.system).region
        self.actor = f"import:{profile.title}"
        with store.transaction() as conn:
            self.by_key = _index(conn, self.entity, profile.hub_key)
            if profile.hub_key == EXACT_ID:
                # Records a two-way sync linked are known by their Exact ID too.
                for exact_id, hub_id in links.external_ids(conn, profile.system, self.entity):
                    self.by_key.setdefault(exact_id.lower(), hub_id)
            self.companies = (
                _company_index(conn, profile.system) if profile.target == "contact" else {}
            )

    def one(self, row: dict[str, Any]) -> Outcome:
        key_value = _text(row.get(self.profile.key_field))
        exact_id = str(row.get("ID") or "").lower()
        label = self._label(row)
        if key_value in (None, ""):
            return Outcome(
                exact_id, label, "failed", f"no value in key field {self.profile.key_field}"
            )
        key = str(key_value)
        values, problems = self._values(row)
        if self.profile.target == "contact" and "company" in self.profile.mapping:
            account = str(row.get("Account") or "").lower()
            company = self.companies.get(account)
            if company is None:
                return Outcome(
                    key,
                    label,
                    "failed",
                    f"its company (Exact account {account or 'none'}) is not in the hub:"
                    " import the companies first",
                )
            values["company"] = company
        found = self.by_key.get(key)
        note = "; ".join(f"left out {name}: {reason}" for name, reason in problems)
        if found is None:
            if self.mode == "update":
                return Outcome(
                    key, label, "skipped", f"no hub record with {self.profile.hub_key} = {key}"
                )
            if self.entity == "person":
                values.setdefault("kind", "contact")
            record_id = create_record(
                self.store, self.entity, values, actor=self.actor, clock=self.clock
            )
            self.by_key[key] = record_id
            return Outcome(key, label, "created", note, record_id)
        if self.mode == "import":
            return Outcome(key, label, "skipped", f"already in the hub (record {found})", found)
        changed = edit_record(self.store, found, values, actor=self.actor, clock=self.clock)
        if not changed:
            return Outcome(key, label, "skipped", note or "unchanged", found)
        return Outcome(key, label, "updated", note, found)

    def _values(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for hub_field, exact_field in self.profile.mapping.items():
            if hub_field == "company" or exact_field not in row:
                continue
            raw = _text(row[exact_field])
            try:
                values[hub_field] = normalise_value(
                    self.spec.spec_for(hub_field), raw, region=self.region
                )
            except ValidationError as exc:
                problems.append((hub_field, exc.message))
        if row.get("ID"):
            values[EXACT_ID] = str(row["ID"]).lower()
        return values, problems

    def _label(self, row: dict[str, Any]) -> str:
        if self.profile.source == "account":
            return str(row.get("Name") or row.get("ID") or "")
        parts = [row.get("FirstName"), row.get("LastName")]
        return " ".join(str(p) for p in parts if p) or str(row.get("ID") or "")


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return odata_time(value) or value.strip()
    return value


def _index(conn: Connection, entity: str, hub_field: str) -> dict[str, int]:
    """Hub records of ``entity`` by the value of ``hub_field`` (deleted ones left out)."""
    found: dict[str, int] = {}
    for record in _all(conn, entity):
        value = record.data.get(hub_field)
        if value not in (None, ""):
            found.setdefault(str(value), record.id)
    return found


def _company_index(conn: Connection, system: str) -> dict[str, int]:
    """Hub companies by Exact account ID: imported ones and those linked by a sync."""
    found = {key.lower(): hub_id for key, hub_id in links.external_ids(conn, system, "company")}
    for exact_id, hub_id in _index(conn, "company", EXACT_ID).items():
        found.setdefault(exact_id.lower(), hub_id)
    return found


def _all(conn: Connection, entity: str) -> Iterable[HubRecord]:
    position = 0
    while True:
        batch = records.changed_since(conn, entity, position, 1000)
        if not batch:
            return
        position = batch[-1].seq
        yield from (r for r in batch if not r.deleted)
