"""Push-only runs (S000-04's separate schedules, a contact sent on request) and hub deletes
sent as deactivations, against the in-memory connector."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from accord.clock import ManualClock
from accord.connectors.base import Operation, OperationResult
from accord.connectors.memory import MemoryConnector
from accord.engine import Plan, SyncContext, sync
from accord.mapping.profile import Profile
from accord.service.records import create_record, delete_record, edit_record
from accord.store import HubStore, bookkeeping, links
from tests.support import memory_profile, run_sync


def _linked(store: HubStore, clock: ManualClock) -> tuple[MemoryConnector, Profile, int, int]:
    """A system with one company and one contact, synced: (system, profile, company and
    contact hub ids)."""
    system = MemoryConnector("crm", clock=clock)
    acme = system.put("company", None, {"code": "A1", "name": "Acme", "active": True})
    ann = system.put(
        "person", None, {"company_key": acme, "first": "Ann", "last": "Lee", "active": True}
    )
    profile = memory_profile(required_for_create=("company",))
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        company = links.by_external(conn, "crm", "company", [acme])[acme].hub_id
        contact = links.by_external(conn, "crm", "person", [ann])[ann].hub_id
    return system, profile, company, contact


def _push_only(
    store: HubStore,
    system: MemoryConnector,
    profile: Profile,
    clock: ManualClock,
    batch_size: int = 1000,
) -> Plan:
    ctx = SyncContext(store, system, profile, "crm", clock, batch_size=batch_size)
    return sync(ctx, pull=False, push=True)


def _updates_sent(system: MemoryConnector) -> list[Operation]:
    """The updates ``system`` is sent from now on."""
    sent: list[Operation] = []
    apply = system.apply

    def counting(entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        sent.extend(op for op in operations if op.kind == "update")
        return apply(entity, operations)

    system.apply = counting  # type: ignore[method-assign]
    return sent


def _create_contact(store: HubStore, company: int, clock: ManualClock) -> int:
    """A contact made in the hub, which a push creates in the system."""
    fields = {"company": company, "first_name": "Bo", "last_name": "Ng"}
    return create_record(store, "person", fields, clock=clock)


def test_s000_04_a_push_only_run_that_pulls_first_sends_a_failing_retry_once(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, company, ann = _linked(store, clock)
    system.tables["person"].validators["title"] = lambda v: "no" if v == "Chief" else None
    edit_record(store, ann, {"job_title": "Chief"}, clock=clock)
    run_sync(store, system, profile, clock)  # refused: an open error, retried every run
    _create_contact(store, company, clock)
    sent = _updates_sent(system)
    plan = _push_only(store, system, profile, clock)
    assert len(sent) == 1, sent  # the retry, once: not again after the pull
    assert plan.count("system", "person", "create") == 1
    assert plan.count("system", "person", "error") == 1


def test_s000_04_a_refusal_in_an_earlier_batch_is_not_sent_again_after_the_pull(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, company, ann = _linked(store, clock)
    system.tables["person"].validators["title"] = lambda v: "no" if v == "Chief" else None
    edit_record(store, ann, {"job_title": "Chief"}, clock=clock)  # refused in batch 1
    _create_contact(store, company, clock)  # batch 2: the create that makes the run pull
    sent = _updates_sent(system)
    plan = _push_only(store, system, profile, clock, batch_size=1)
    assert plan.count("system", "person", "error") == 1
    assert len(sent) == 1, sent


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_s000_04_a_refused_create_is_counted_once_when_the_run_pulls_first(
    store: HubStore, clock: ManualClock, batch_size: int
) -> None:
    system, profile, company, _ = _linked(store, clock)
    # A company the system will not get (inactive), and a contact of it: its create is
    # refused (its company is not linked). Another contact is created.
    gone = create_record(store, "company", {"name": "Gone Ltd", "active": False}, clock=clock)
    create_record(
        store, "person", {"company": gone, "first_name": "Refused", "last_name": "One"}, clock=clock
    )
    _create_contact(store, company, clock)
    plan = _push_only(store, system, profile, clock, batch_size=batch_size)
    assert plan.count("system", "person", "create") == 1
    assert plan.count("system", "person", "error") == 1
    with store.reading() as conn:
        assert len(bookkeeping.open_errors(conn, "crm", "person", "push")) == 1


def test_s000_07_values_the_system_refuses_do_not_keep_a_deleted_record_active(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, _, ann = _linked(store, clock)
    table = system.tables["person"]
    table.validators["email"] = lambda v: "no such mailbox" if v == "ann@gone.example" else None
    table.validators["title"] = lambda v: "not a title here" if v == "Chief" else None
    # Two values the system refuses: the update is refused and reported.
    edit_record(store, ann, {"email": "ann@gone.example", "job_title": "Chief"}, clock=clock)
    run_sync(store, system, profile, clock)
    key = next(iter(table.rows))
    assert system.get("person", key)["active"] is True  # type: ignore[index]
    # Deleted in the hub: the deactivation carries them, is refused, and goes again alone.
    delete_record(store, ann, clock=clock)
    run_sync(store, system, profile, clock)
    assert system.get("person", key)["active"] is False  # type: ignore[index]
    assert run_sync(store, system, profile, clock).writes == 0


def test_s000_07_a_transient_failure_does_not_strip_a_deactivation_of_its_values(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, _, ann = _linked(store, clock)
    table = system.tables["person"]
    key = next(iter(table.rows))
    edit_record(store, ann, {"job_title": "Boss"}, clock=clock)
    delete_record(store, ann, clock=clock)  # the deactivation carries the new title
    apply = system.apply
    failed: list[Operation] = []

    def flaky(entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        if not failed and any(op.kind == "deactivate" for op in operations):
            failed.extend(operations)  # a deadlock: nothing written, try again later
            return [
                OperationResult(False, op.key, error="deadlock", transient=True)
                for op in operations
            ]
        return apply(entity, operations)

    system.apply = flaky  # type: ignore[method-assign]
    run_sync(store, system, profile, clock)
    run_sync(store, system, profile, clock)
    row = system.get("person", key)
    assert row is not None and row["active"] is False
    assert row.get("title") == "Boss", row  # the title went with the deactivation
