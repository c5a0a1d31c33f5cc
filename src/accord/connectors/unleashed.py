"""A connector for the Unleashed REST API: sales persons, customers, customer contacts.

Native entities: ``salespersons`` (key: Guid), ``customers`` (key: Guid) and ``contacts``
(key: ``<contact Guid>@<customer Guid>``); native values are flat (see
``unleashed_records``).

Reading changes: customers are paged with ``orderBy=LastModifiedOn`` and
``modifiedSince`` (seconds, so a read starts a little before the cursor and the engine
drops the re-read records by version). Contacts come with their customers
(``includeAllContacts``): a contact change, a deletion included, is taken to stamp its
customer, as the sandbox does. Each such customer's contacts are listed whole
(``ChangeBatch.listed_whole``, by the ``@<customer Guid>`` key suffix), so a linked contact
missing from the list is read by key (``GET /Customers/{Guid}/Contacts``) and, when that
confirms it is gone, deleted. Page numbers shift when a record already read is modified during the read (it moves
to the end); a record seen twice in one pass shows that happened, and the pass is
repeated, so no record is skipped. The cursor is stored only after a whole pass.

Writes: ``POST /Customers/{Guid}`` creates or updates; contacts are posted to and put
under their customer. Creates choose their Guid from the idempotency marker, so a retried
create (after a timeout or a dropped connection) finds the record it made. A write
returns no version: the record it answers may hold edits made in Unleashed since our last
read, and a version would mark those as already seen; the next read merges them (the
fields we wrote compare equal to the base, so nothing echoes). The API has no
conditional update and customers are made obsolete rather than deleted, so those
capabilities are declared off; reading every key costs a full read, so deleted
customers are not looked for (customers are made obsolete instead).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self

from accord.clock import Clock, SystemClock
from accord.config import SystemConfig
from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ExternalRecord,
    Operation,
    OperationResult,
)
from accord.connectors.unleashed_http import (
    ApiResponse,
    Params,
    RetryPolicy,
    UnleashedHttp,
    api_date_ms,
    modified_since,
)
from accord.connectors.unleashed_records import (
    CUSTOMER_GUID,
    contact_body,
    contact_key,
    contact_record,
    customer_body,
    customer_record,
    native_field,
    salesperson_record,
    split_contact_key,
)
from accord.errors import ConfigError, ConnectorError, TransientError

SALESPERSONS, CUSTOMERS, CONTACTS = "salespersons", "customers", "contacts"
ENTITIES = (SALESPERSONS, CUSTOMERS, CONTACTS)
MAX_PAGE = 1000  # the API's largest pageSize
OVERLAP_MS = 2000  # re-read this much before the cursor: modifiedSince has whole seconds
MAX_PASSES = 4  # repeats of a read whose pages shifted under it
# Guids of records we create derive from their markers (idempotent retries).
MARKER_NAMESPACE = uuid.UUID("9b7d2c1e-5a43-4f0e-8d61-3c2b7a90e4f5")
# Connector settings a system's ``options`` may carry (the preset accepts these too).
CONNECTOR_OPTIONS = ("api_id", "client_type", "timeout_seconds", "max_retries", "page_size")


class UnleashedConnector:
    def __init__(
        self,
        name: str,
        base_url: str,
        api_id: str,
        api_key: str,
        clock: Clock | None = None,
        *,
        client_type: str = "accord/hub",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        page_size: int = MAX_PAGE,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_id or not api_key:
            raise ConfigError("Unleashed needs an API id and an API key", system=name)
        self.name = name
        self.clock = clock or SystemClock()
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.http = UnleashedHttp(
            base_url,
            api_id,
            api_key,
            client_type=client_type,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            rng=random.Random(seed),
        )
        self._guid_by_name: dict[str, str] | None = None
        self._people: list[ExternalRecord] | None = None

    @classmethod
    def from_config(cls, name: str, system: SystemConfig, clock: Clock) -> Self:
        options = system.options
        api_id = options.get("api_id")
        if not api_id:
            if "api_id" not in system.secrets_env:
                raise ConfigError(
                    "no Unleashed API id: set options.api_id or secrets_env.api_id", system=name
                )
            api_id = system.resolved_secret(name, "api_id")
        retry = RetryPolicy(max_retries=int(options.get("max_retries", RetryPolicy.max_retries)))
        return cls(
            name,
            system.resolved_url(name),
            str(api_id),
            system.resolved_secret(name, "api_key"),
            clock,
            client_type=str(options.get("client_type", "accord/hub")),
            timeout=float(options.get("timeout_seconds", 30.0)),
            retry=retry,
            page_size=int(options.get("page_size", MAX_PAGE)),
        )

    # -- what tests and benchmarks report ------------------------------------------------
    @property
    def api_calls(self) -> int:
        return self.http.api_calls

    @property
    def retries(self) -> int:
        return self.http.retries

    # -- the connector protocol ----------------------------------------------------------
    def entities(self) -> Sequence[str]:
        return list(ENTITIES)

    def capabilities(self, entity: str) -> Capabilities:
        self._check(entity)
        return Capabilities(
            create=entity != SALESPERSONS,
            update=entity != SALESPERSONS,
            delete=entity == CONTACTS,
            deactivate=entity == CUSTOMERS,
            idempotent_create=entity != SALESPERSONS,
            list_keys=entity == SALESPERSONS,
            modified_time=True,
            conditional_update=False,
        )

    def read_changes(
        self, entity: str, cursor: str | None, batch_size: int
    ) -> Iterator[ChangeBatch]:
        self._check(entity)
        size = max(1, min(batch_size, self.page_size))
        if entity == SALESPERSONS:
            people = self._salespersons()
            for start in range(0, len(people), size):
                yield ChangeBatch(people[start : start + size], None)
            yield ChangeBatch([], "all")
            return
        since = int(cursor) if cursor else None
        yield from self._read_customers(entity, since, size)

    def read_by_keys(self, entity: str, keys: Sequence[str]) -> list[ExternalRecord]:
        self._check(entity)
        if entity == SALESPERSONS:
            found = {r.key: r for r in self._salespersons()}
            return [found.get(k) or ExternalRecord(k, {}, deleted=True) for k in keys]
        if entity == CUSTOMERS:
            return [self._customer_by_key(key) for key in keys]
        by_customer: dict[str, dict[str, ExternalRecord]] = {}
        out: list[ExternalRecord] = []
        for key in keys:
            try:
                _, customer = split_contact_key(key)
            except ValueError:
                out.append(ExternalRecord(key, {}, deleted=True))
                continue
            if customer not in by_customer:
                by_customer[customer] = {r.key: r for r in self._contacts_of(customer)}
            out.append(by_customer[customer].get(key) or ExternalRecord(key, {}, deleted=True))
        return out

    def list_keys(self, entity: str) -> Iterator[str]:
        self._check(entity)
        if entity == SALESPERSONS:
            # The list this run just read, if it did: sales persons are one short page.
            people = self._people if self._people is not None else self._salespersons()
            yield from (r.key for r in people)
            return
        for batch in self._read_customers(entity, None, self.page_size):
            yield from (r.key for r in batch.records)

    def count(self, entity: str) -> int:
        self._check(entity)
        if entity == CUSTOMERS:
            page = self._page("/Customers", 1, [("pageSize", "1"), ("includeObsolete", "true")])
            return int(page.body["Pagination"]["NumberOfItems"])
        return sum(1 for _ in self.list_keys(entity))

    def full_read_cursor(self, entity: str, cursor: str | None) -> str | None:
        return None  # every customer, from the start

    def note_writes(
        self, entity: str, cursor: str | None, results: Sequence[OperationResult]
    ) -> str | None:
        return cursor  # reads return our own writes; the engine knows them by version

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        self._check(entity)
        results = []
        for op in operations:
            try:
                results.append(self._apply_one(entity, op))
            except TransientError as exc:
                results.append(OperationResult(False, op.key, error=exc.message, transient=True))
            except ConnectorError as exc:
                results.append(OperationResult(False, op.key, error=exc.message))
        return results

    def refusals(
        self, entity: str, operations: Sequence[Operation]
    ) -> list[OperationResult | None]:
        self._check(entity)
        return [None] * len(operations)  # Unleashed judges what it is sent

    def close(self) -> None:
        self.http.close()

    # -- reading -------------------------------------------------------------------------
    def _check(self, entity: str) -> None:
        if entity not in ENTITIES:
            raise ConfigError(
                f"Unleashed has no entity {entity!r}; known: {', '.join(ENTITIES)}",
                system=self.name,
            )

    def _page(self, path: str, number: int, params: Params) -> ApiResponse:
        answer = self.http.get(f"{path}/{number}", params)
        if not answer.ok or not isinstance(answer.body, dict) or "Items" not in answer.body:
            raise ConnectorError(f"GET {path}/{number}: {answer.description()}", system=self.name)
        return answer

    def _pages(self, path: str, params: Params) -> Iterator[list[dict[str, Any]]]:
        number = 1
        while True:
            body = self._page(path, number, params).body
            items = [i for i in body["Items"] if isinstance(i, dict)]
            if items:
                yield items
            pages = int(body.get("Pagination", {}).get("NumberOfPages") or 0)
            if number >= pages or not items:
                return
            number += 1

    def _salespersons(self) -> list[ExternalRecord]:
        people: list[ExternalRecord] = []
        guid_by_name: dict[str, str] = {}
        for items in self._pages("/Salespersons", [("pageSize", str(MAX_PAGE))]):
            for item in items:
                people.append(salesperson_record(item))
                if item.get("FullName"):
                    guid_by_name[str(item["FullName"]).casefold()] = str(item["Guid"])
        self._guid_by_name, self._people = guid_by_name, people
        return people

    def _names(self) -> dict[str, str]:
        # Sales persons given by name need the list once per connector to become Guids.
        if self._guid_by_name is None:
            self._salespersons()
        assert self._guid_by_name is not None
        return self._guid_by_name

    def _read_customers(self, entity: str, since: int | None, size: int) -> Iterator[ChangeBatch]:
        params: list[tuple[str, str]] = [
            ("pageSize", str(size)),
            ("includeObsolete", "true"),
            ("orderBy", "LastModifiedOn"),
        ]
        if entity == CONTACTS:
            params.append(("includeAllContacts", "true"))
        if since is not None:
            params.append(("modifiedSince", modified_since(since - OVERLAP_MS)))
        newest = since or 0
        for _ in range(MAX_PASSES):
            seen: set[str] = set()
            shifted = False
            for items in self._pages("/Customers", params):
                records: list[ExternalRecord] = []
                listed: dict[str, frozenset[str]] = {}
                for item in items:
                    guid = str(item.get("Guid"))
                    shifted = shifted or guid in seen
                    seen.add(guid)
                    stamp = api_date_ms(item.get("LastModifiedOn")) or 0
                    newest = max(newest, stamp)
                    if entity == CUSTOMERS:
                        records.append(customer_record(item, self._names()))
                        continue
                    records.extend(self._contacts_in(item, guid, since))
                    if isinstance(item.get("Contacts"), list):
                        listed[contact_key("", guid)] = self._contact_keys(item, guid)
                yield ChangeBatch(records, None, listed)
            if not shifted:
                yield ChangeBatch([], str(newest))
                return
        # Still moving after every pass: keep the old cursor, so the next run reads it again.
        yield ChangeBatch([], None if since is None else str(since))

    @staticmethod
    def _contact_keys(item: dict[str, Any], guid: str) -> frozenset[str]:
        """Every contact the customer holds now, changed since the cursor or not."""
        contacts = item.get("Contacts") or []
        return frozenset(
            contact_key(str(c["Guid"]), guid)
            for c in contacts
            if isinstance(c, dict) and c.get("Guid")
        )

    @staticmethod
    def _contacts_in(item: dict[str, Any], guid: str, since: int | None) -> list[ExternalRecord]:
        found = []
        for contact in item.get("Contacts") or []:
            if not isinstance(contact, dict) or not contact.get("Guid"):
                continue
            stamp = api_date_ms(contact.get("LastModifiedOn"))
            if since is not None and stamp is not None and stamp < since - OVERLAP_MS:
                continue
            found.append(contact_record(contact, guid))
        return found

    def _customer_by_key(self, key: str) -> ExternalRecord:
        answer = self.http.get(f"/Customers/{key}")
        if answer.status == 404 or (answer.ok and not answer.body):
            return ExternalRecord(key, {}, deleted=True)
        if not answer.ok:
            raise ConnectorError(f"GET /Customers/{key}: {answer.description()}", system=self.name)
        return customer_record(answer.body, self._names())

    def _contacts_of(self, customer: str) -> list[ExternalRecord]:
        answer = self.http.get(f"/Customers/{customer}/Contacts")
        if answer.status == 404:
            return []
        if not answer.ok:
            raise ConnectorError(
                f"GET /Customers/{customer}/Contacts: {answer.description()}", system=self.name
            )
        items = answer.body.get("Items", []) if isinstance(answer.body, dict) else answer.body
        return [contact_record(i, customer) for i in items or [] if isinstance(i, dict)]

    # -- writing -------------------------------------------------------------------------
    def _apply_one(self, entity: str, op: Operation) -> OperationResult:
        if entity == SALESPERSONS:
            return OperationResult(
                False, op.key, error="sales persons are kept in Unleashed; the hub only reads them"
            )
        if entity == CUSTOMERS:
            return self._write_customer(op)
        return self._write_contact(op)

    @staticmethod
    def _new_guid(op: Operation) -> str:
        return str(uuid.uuid5(MARKER_NAMESPACE, op.marker) if op.marker else uuid.uuid4())

    def _write_customer(self, op: Operation) -> OperationResult:
        if op.kind == "delete":
            return OperationResult(
                False, op.key, error="Unleashed customers are made obsolete, not deleted"
            )
        guid = self._new_guid(op) if op.kind == "create" else str(op.key)
        body = {"Guid": guid, **customer_body(op.values)}
        answer = self.http.request("POST", f"/Customers/{guid}", body=body)
        if not answer.ok:
            return self._refused(op.key, answer)
        saved = customer_record(answer.body, self._names())
        return OperationResult(True, saved.key, None, saved.modified_at)

    def _write_contact(self, op: Operation) -> OperationResult:
        if op.kind == "create":
            customer = op.values.get(CUSTOMER_GUID)
            if not customer:
                return OperationResult(
                    False, None, error="a contact needs its Unleashed customer", field=CUSTOMER_GUID
                )
            guid = self._new_guid(op)
            body = {"Guid": guid, **contact_body(op.values)}

            def made_already() -> ApiResponse | None:
                # Whether Unleashed keeps a contact's Guid on a repeated POST is not
                # documented: look for the contact before sending it again.
                found = self.http.get(f"/Customers/{customer}/Contacts")
                items = found.body.get("Items", []) if isinstance(found.body, dict) else found.body
                for item in items or []:
                    if isinstance(item, dict) and str(item.get("Guid")) == guid:
                        return ApiResponse(200, item)
                return None

            answer = self.http.request(
                "POST", f"/Customers/{customer}/Contacts", body=body, took_effect=made_already
            )
            if answer.ok and isinstance(answer.body, dict):
                made = answer.body
                if any(made.get(name) != value for name, value in body.items()):
                    # The contact an earlier attempt made, as it was then: the hub may have
                    # changed since, and what the engine records as agreed is what it sent.
                    path = f"/Customers/{customer}/Contacts/{guid}"
                    answer = self.http.request("PUT", path, body=body)
        else:
            try:
                guid, customer = split_contact_key(str(op.key))
            except ValueError as exc:
                return OperationResult(False, op.key, error=str(exc))
            path = f"/Customers/{customer}/Contacts/{guid}"
            if op.kind == "delete":
                answer = self.http.request("DELETE", path)
                if answer.ok or answer.status == 404:
                    return OperationResult(True, op.key)
                return self._refused(op.key, answer)
            if CUSTOMER_GUID in op.values and op.values[CUSTOMER_GUID] != customer:
                return OperationResult(
                    False,
                    op.key,
                    error="a contact cannot move to another Unleashed customer",
                    field=CUSTOMER_GUID,
                )
            answer = self.http.request("PUT", path, body={"Guid": guid, **contact_body(op.values)})
        if not answer.ok:
            return self._refused(op.key, answer)
        saved = contact_record(answer.body, str(customer))
        return OperationResult(True, contact_key(guid, str(customer)), None, saved.modified_at)

    def _refused(self, key: str | None, answer: ApiResponse) -> OperationResult:
        if answer.status == 404:
            return OperationResult(
                False, key, error=f"not found in Unleashed: {answer.description()}"
            )
        return OperationResult(
            False, key, error=answer.description(), field=native_field(answer.refused_field())
        )
