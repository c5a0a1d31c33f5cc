"""Exact Online connector: CRM accounts and contacts over the REST/OData API.

Reads are incremental through the sync endpoints (``sync/CRM/...``, ordered by the
division-wide ``Timestamp``, which is the cursor); deletions come from ``sync/Deleted``
with a cursor of their own, so no full key listing is needed. Creates POST, updates and
deactivations PUT (an account is deactivated by blocking it); nothing is ever deleted.
Exact has no conditional writes. Account creates are idempotent: they carry their marker
in the account's unique ``Code`` (see ``exact_markers``). Contact creates are not: no
documented contact field can carry a marker without showing it to Exact's users. So a
create whose answer was lost is never repeated blindly; the next pull matches the contact
to its hub person by company and name.

The cursor is ``"<records timestamp>:<deleted timestamp>"``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Engine

from accord.clock import Clock, to_iso
from accord.config import SystemConfig
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ExternalRecord,
    Operation,
    OperationResult,
)
from accord.connectors.exact_api import ExactApi, ExactRequestError
from accord.connectors.exact_auth import (
    ExactOAuth,
    ReconnectError,
    SecretBox,
    TokenKeeper,
    TokenStore,
    tls_verify,
)
from accord.connectors.exact_markers import (
    MarkerSource,
    codes_in_flight,
    marker_code,
    padded,
    pending_markers,
)
from accord.errors import ConfigError, TransientError

log = logging.getLogger(__name__)

READ_BATCH_KEYS = 20  # GUIDs per $filter when reading by keys


@dataclass(frozen=True)
class Resource:
    path: str
    sync_path: str
    entity_type: int  # in sync/Deleted
    fields: tuple[str, ...]


ACCOUNTS = Resource(
    "crm/Accounts",
    "sync/CRM/Accounts",
    2,
    (
        "ID", "Code", "Name", "Phone", "Email", "Website", "Fax", "AddressLine1",
        "AddressLine2", "AddressLine3", "City", "Postcode", "State", "Country", "Status",
        "Blocked", "Modified",
    ),
)  # fmt: skip
CONTACTS = Resource(
    "crm/Contacts",
    "sync/CRM/Contacts",
    5,
    (
        "ID", "Account", "FirstName", "MiddleName", "LastName", "Initials",
        "JobTitleDescription", "Email", "Phone", "Mobile", "BusinessFax", "Notes",
        "IsMainContact", "Modified",
    ),
)  # fmt: skip
RESOURCES = {"accounts": ACCOUNTS, "contacts": CONTACTS}
_ODATA_DATE = re.compile(r"/Date\((-?\d+)\)/")


def odata_time(value: Any) -> str | None:
    match = _ODATA_DATE.fullmatch(str(value or ""))
    if not match:
        return None
    return to_iso(datetime.fromtimestamp(int(match.group(1)) / 1000, UTC))


def _cursor(text: str | None) -> tuple[int, int | None]:
    if not text:
        return 1, None  # Exact: Timestamp gt 1 reads everything
    records, _, deleted = text.partition(":")
    return int(records), int(deleted) if deleted else None


def hub_engine(hub_url: str) -> Engine:
    """An engine on the hub for the token store, beside the sync's own.

    On SQLite a dry run holds the write lock for its whole length: this engine reads
    without taking it and waits only briefly to write (a renewed pair that cannot be
    saved at once is saved when the connector closes).
    """
    from sqlalchemy import create_engine

    from accord.store.database import make_engine, normalise_url

    if hub_url.startswith("sqlite"):
        return create_engine(normalise_url(hub_url), connect_args={"timeout": 2})
    return make_engine(hub_url)


class ExactConnector:
    keeps_secrets_in_hub = True  # open_system hands over the hub URL for the token store

    def __init__(
        self,
        name: str,
        api: ExactApi,
        clock: Clock,
        *,
        markers: MarkerSource | None = None,
        marker_codes: bool = True,
    ) -> None:
        self.name = name
        self.api = api
        self.clock = clock
        # The markers of the hub's creates in flight, to recognise their accounts on a read.
        self.markers = markers
        # Accounts the hub creates get a code derived from the create's marker.
        self.marker_codes = marker_codes

    @classmethod
    def from_config(
        cls, name: str, system: SystemConfig, clock: Clock, hub_url: str | None = None
    ) -> Self:
        if hub_url is None:
            raise ConfigError("the Exact Online connector keeps its tokens in the hub", system=name)
        store = TokenStore(hub_engine(hub_url), name, SecretBox())
        return cls(
            name,
            open_api(name, system, store),
            clock,
            markers=pending_markers(store.engine, name),
            marker_codes=system.options.get("account_codes", "marker") == "marker",
        )

    # -- the connector protocol --------------------------------------------------------------
    def entities(self) -> Sequence[str]:
        return list(RESOURCES)

    def capabilities(self, entity: str) -> Capabilities:
        return Capabilities(
            delete=False,
            idempotent_create=RESOURCES[entity] is ACCOUNTS and self.marker_codes,
            list_keys=False,  # deletions come from sync/Deleted
            conditional_update=False,
        )

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        resource = RESOURCES[entity]
        after, deleted_after = _cursor(cursor)
        if deleted_after is None:
            # First read: deletions before now concern records we have never seen.
            deleted_after = self._sync_timestamp()
        params = {
            "$select": ",".join((*resource.fields, "Timestamp")),
            "$filter": f"Timestamp gt {after}L",
        }
        in_flight = self._in_flight(resource)
        for page in self.api.pages(resource.sync_path, params):
            for start in range(0, len(page), batch_size):
                chunk = page[start : start + batch_size]
                after = max(after, *(int(row["Timestamp"]) for row in chunk))
                records = [self._record(resource, row, in_flight) for row in chunk]
                yield ChangeBatch(records, f"{after}:{deleted_after}")
        gone_params = {
            "$select": "EntityKey,Timestamp",
            "$filter": f"Timestamp gt {deleted_after}L and EntityType eq {resource.entity_type}",
        }
        for page in self.api.pages("sync/Deleted", gone_params):
            if not page:
                continue
            deleted_after = max(deleted_after, *(int(row["Timestamp"]) for row in page))
            records = [ExternalRecord(str(r["EntityKey"]).lower(), {}, deleted=True) for r in page]
            yield ChangeBatch(records, f"{after}:{deleted_after}")
        yield ChangeBatch([], f"{after}:{deleted_after}")

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        resource = RESOURCES[entity]
        found: dict[str, ExternalRecord] = {}
        in_flight = self._in_flight(resource) if keys else {}
        for start in range(0, len(keys), READ_BATCH_KEYS):
            chunk = keys[start : start + READ_BATCH_KEYS]
            wanted = [k for k in chunk if _is_guid(k)]
            if not wanted:
                continue
            params = {
                "$select": ",".join(resource.fields),
                "$filter": " or ".join(f"ID eq guid'{k}'" for k in wanted),
            }
            for page in self.api.pages(resource.path, params):
                for row in page:
                    record = self._record(resource, row, in_flight)
                    found[record.key] = record
        return [found.get(k.lower(), ExternalRecord(k, {}, deleted=True)) for k in keys]

    def list_keys(self, entity: str) -> Iterator[str]:
        resource = RESOURCES[entity]
        params = {"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}
        for page in self.api.pages(resource.sync_path, params):
            for row in page:
                yield str(row["ID"]).lower()

    def count(self, entity: str) -> int:
        answer = self.api.request("GET", self.api.url(RESOURCES[entity].path + "/$count"))
        return int(str(answer).strip())

    def full_read_cursor(self, entity: str, cursor: str | None) -> str | None:
        # Every record from the first timestamp; deletions go on from where they were:
        # from the start, sync/Deleted would list only deletions from now on (see above).
        _, deleted_after = _cursor(cursor)
        return None if deleted_after is None else f"1:{deleted_after}"

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        return cursor  # reads return our own writes; the engine knows them by version

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        return [None] * len(operations)  # Exact Online judges what it is sent

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        resource = RESOURCES[entity]
        results: list[OperationResult] = []
        for op in operations:
            try:
                results.append(self._apply_one(resource, op))
            except ReconnectError as exc:
                if not results:
                    raise
                # What was written must be recorded (a create repeated would be a second
                # account); the rest waits for the reconnect, and the next call says so.
                results.extend(
                    OperationResult(False, rest.key, error=exc.message, transient=True)
                    for rest in operations[len(results) :]
                )
                break
        return results

    def close(self) -> None:
        summary = self.api.budget.summary()
        log.info("exact %s: %s", self.name, summary)
        try:
            self.api.keeper.flush()
            self.api.keeper.store.save_budget(f"{to_iso(self.clock.now())[:16]}: {summary}")
        finally:
            self.api.close()
            self.api.keeper.store.engine.dispose()

    # -- inside ---------------------------------------------------------------------------------
    def _sync_timestamp(self) -> int:
        now = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        params = {"modified": f"datetime'{now}'", "endPoint": "'Deleted'"}
        row = self.api.first("read/sync/Sync/SyncTimestamp", params)
        return int(row["TimeStampAsBigInt"]) if row else 1

    def _in_flight(self, resource: Resource) -> dict[str, str]:
        if resource is not ACCOUNTS or self.markers is None or not self.marker_codes:
            return {}
        return codes_in_flight(self.markers())

    def _record(
        self, resource: Resource, row: dict[str, Any], in_flight: dict[str, str] | None = None
    ) -> ExternalRecord:
        values = {name: row.get(name) for name in resource.fields if name in row}
        code, account = values.get("Code"), values.get("Account")
        if isinstance(code, str):
            values["Code"] = code.strip()  # right-aligned to 18 characters
        if isinstance(account, str):
            values["Account"] = account.lower()
        version = str(row["Timestamp"]) if "Timestamp" in row else None
        marker = (in_flight or {}).get(str(values.get("Code") or ""))
        return ExternalRecord(
            str(row["ID"]).lower(),
            values,
            version,
            odata_time(row.get("Modified")),
            marker=marker,
        )

    def _create(self, resource: Resource, values: dict[str, Any], marker: str | None) -> Any:
        """POST a new record; an account keyed by its code is made at most once."""
        code: str | None = None
        if resource is ACCOUNTS:
            values.setdefault("Status", "C")  # a customer, not a prospect
            given = str(values.get("Code") or "").strip()
            code = given or (marker_code(marker) if marker and self.marker_codes else None)
            if code:
                values["Code"] = code
        url = self.api.url(resource.path)
        if code is None:
            return self.api.request("POST", url, json=values)["d"]
        try:
            return self.api.request("POST", url, json=values)["d"]
        except (TransientError, ExactRequestError) as exc:
            # The answer was lost, or an earlier attempt already made the account (its code
            # is taken): the account with this code is the one this create made.
            if isinstance(exc, ExactRequestError) and exc.status != 400:
                raise
            made = self._account_by_code(code)
            if made is None:
                raise
            log.info("exact %s: account %s was already made by this create", self.name, code)
            # As that create left it: the hub may have changed since, and what the engine
            # records as agreed is what this create sends.
            self.api.request(
                "PUT", self.api.url(f"{resource.path}(guid'{made['ID']}')"), json=values
            )
            return made

    def _account_by_code(self, code: str) -> dict[str, Any] | None:
        params = {
            "$select": ",".join(ACCOUNTS.fields),
            "$filter": "Code eq '{}'".format(padded(code).replace("'", "''")),
        }
        return self.api.first(ACCOUNTS.path, params)

    def _apply_one(self, resource: Resource, op: Operation) -> OperationResult:
        values = {k: v for k, v in op.values.items() if k not in ("ID", "Modified")}
        try:
            if op.kind == "create":
                row = self._create(resource, values, op.marker)
                return OperationResult(
                    True, str(row["ID"]).lower(), None, odata_time(row.get("Modified"))
                )
            if op.key is None or not _is_guid(op.key):
                return OperationResult(False, op.key, error=f"not an Exact Online ID: {op.key}")
            if op.kind == "delete":
                return OperationResult(
                    False,
                    op.key,
                    error="Exact Online records are deactivated (blocked), never deleted",
                )
            if values:
                url = self.api.url(f"{resource.path}(guid'{op.key}')")
                self.api.request("PUT", url, json=values)
            return OperationResult(True, op.key)
        except ExactRequestError as exc:
            refused = _field_of(exc.detail, resource)
            reason = exc.detail
            if refused and reason.startswith(f"{refused}:"):
                reason = reason[len(refused) + 1 :].strip()
            return OperationResult(False, op.key, error=reason, field=refused)
        except ReconnectError:
            raise
        except TransientError as exc:
            return OperationResult(False, op.key, error=exc.message, transient=True)


def _is_guid(text: str) -> bool:
    return bool(
        re.fullmatch(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text
        )
    )


def _field_of(message: str, resource: Resource) -> str | None:
    """Exact's messages start with the field they refuse (``Email: invalid ...``)."""
    head = message.split(":", 1)[0].strip()
    if head in resource.fields:
        return head
    quoted = re.search(r"'(\w+)'", message)
    return quoted.group(1) if quoted and quoted.group(1) in resource.fields else None


def open_api(name: str, system: SystemConfig, store: TokenStore) -> ExactApi:
    """An API client for a configured, connected Exact Online system."""
    base_url = system.resolved_url(name)
    verify = tls_verify(system.options.get("ca_file"))
    oauth = ExactOAuth(
        base_url,
        system.resolved_secret(name, "client_id"),
        system.resolved_secret(name, "client_secret"),
        verify=verify,
    )
    connection = store.connection()
    if connection is None:
        raise ReconnectError(
            f"not connected to Exact Online yet: run `accord connect exact --system {name}`",
            system=name,
        )
    return ExactApi(
        base_url,
        TokenKeeper(oauth, store, store.load()),  # read now, before a run holds locks
        system=name,
        division=connection.division,
        verify=verify,
    )
