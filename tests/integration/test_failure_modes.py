"""Known failure modes: crashes between steps, concurrent edits, lost link state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from accord.clock import ManualClock
from accord.connectors.base import ChangeBatch, Operation, OperationResult
from accord.connectors.memory import MemoryConnector
from accord.engine import SyncContext, sync
from accord.errors import AccordError
from accord.mapping.profile import EntityMap, FieldMap, Profile
from accord.service import merges, people
from accord.service.monitor import resolve_conflict
from accord.service.records import create_record, delete_record, edit_record
from accord.store import HubStore, bookkeeping, links, records
from accord.store.schema import conflicts as conflicts_table
from accord.store.schema import links as links_table
from accord.store.schema import records as records_table
from tests.support import exo_erps_config, memory_profile, run_sync


class CrashError(Exception):
    """Stands in for the process dying at a named step."""


def crash_at(step: str) -> object:
    def checkpoint(name: str) -> None:
        if name == step:
            raise CrashError(step)

    return checkpoint


def _system(
    clock: ManualClock, system: MemoryConnector | None = None, **ann: Any
) -> MemoryConnector:
    """Acme and its contact Ann Lee (with ``ann``'s fields) in ``system`` (a new one)."""
    system = system or MemoryConnector("crm", clock=clock)
    acme = system.put("company", None, {"code": "A1", "name": "Acme", "active": True})
    person = {"company_key": acme, "first": "Ann", "last": "Lee", "active": True, **ann}
    system.put("person", None, person)
    return system


def _person(store: HubStore, key: str = "1") -> int:
    with store.transaction() as conn:
        return links.by_external(conn, "crm", "person", [key])[key].hub_id


def _count(store: HubStore, table: object) -> int:
    with store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("step", ["push.after_apply", "push.before_position"])
def test_crash_after_writing_to_the_system_before_the_base_is_saved(
    store: HubStore, clock: ManualClock, step: str
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    edit_record(store, _person(store), {"job_title": "Buyer"}, clock=clock)
    with store.transaction() as conn:
        company = links.by_external(conn, "crm", "company", ["1"])["1"].hub_id
    create_record(
        store, "person", {"company": company, "first_name": "Bo", "last_name": "Ng"}, clock=clock
    )
    ctx = SyncContext(store, system, profile, "crm", clock, checkpoint=crash_at(step))  # type: ignore[arg-type]
    with pytest.raises(CrashError):
        sync(ctx)
    assert system.get("person", "1")["title"] == "Buyer"  # type: ignore[index]
    run_sync(store, system, profile, clock)
    plan = run_sync(store, system, profile, clock)
    people = sorted(r.values["first"] for r in system.tables["person"].rows.values())
    assert people == ["Ann", "Bo"]  # no duplicate create
    assert _count(store, conflicts_table) == 0  # our own write is not a conflict
    assert plan.writes == 0


class _FailsOnce(MemoryConnector):
    """Answers one batch of person writes with a transient failure (a timeout, a lock)."""

    fail_next = False

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        if self.fail_next and entity == "person":
            self.fail_next = False
            return [
                OperationResult(False, o.key, error="timeout", transient=True) for o in operations
            ]
        return super().apply(entity, operations)


def test_a_failed_push_of_a_fix_to_a_value_the_hub_refused_is_sent_again(
    store: HubStore, clock: ManualClock
) -> None:
    # The system holds an invalid email, which the pull leaves out (an open error); the
    # hub's fix fails to go out once. The value sent but not confirmed must not be taken
    # as agreed when the record is read again without that field.
    system, profile = _FailsOnce("crm", clock=clock), memory_profile()
    _system(clock, system, email="not-an-email")
    run_sync(store, system, profile, clock)
    person = _person(store)
    edit_record(store, person, {"email": "ann@acme.example"}, clock=clock)
    system.fail_next = True
    run_sync(store, system, profile, clock)
    assert system.get("person", "1")["email"] == "not-an-email"  # type: ignore[index]
    run_sync(store, system, profile, clock)
    assert system.get("person", "1")["email"] == "ann@acme.example"  # type: ignore[index]
    with store.transaction() as conn:
        assert bookkeeping.open_errors(conn, "crm", "person", "push") == []
        assert records.get(conn, person).data["email"] == "ann@acme.example"  # type: ignore[union-attr]


@pytest.mark.parametrize("step", ["push.before_apply", "push.after_apply"])
def test_a_crash_around_sending_a_fix_the_pull_leaves_out_does_not_lose_it(
    store: HubStore, clock: ManualClock, step: str
) -> None:
    system, profile = _system(clock, email="not-an-email"), memory_profile()
    run_sync(store, system, profile, clock)
    edit_record(store, _person(store), {"email": "ann@acme.example"}, clock=clock)
    ctx = SyncContext(store, system, profile, "crm", clock, checkpoint=crash_at(step))  # type: ignore[arg-type]
    with pytest.raises(CrashError):
        sync(ctx)
    run_sync(store, system, profile, clock)
    assert system.get("person", "1")["email"] == "ann@acme.example"  # type: ignore[index]


@pytest.mark.parametrize("winner", ["system", "hub"])
def test_a_held_conflict_resolves_to_what_the_sides_hold_when_it_is_resolved(
    store: HubStore, clock: ManualClock, winner: str
) -> None:
    system, profile = _system(clock), memory_profile(rule="hold")
    run_sync(store, system, profile, clock)
    person = _person(store)
    edit_record(store, person, {"job_title": "Buyer"}, clock=clock)
    system.put("person", "1", {"title": "Manager"})
    run_sync(store, system, profile, clock)  # both changed: held for review
    system.put("person", "1", {"title": "Director"})  # and each side again, while held
    edit_record(store, person, {"job_title": "Head Buyer"}, clock=clock)
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        (held,) = bookkeeping.open_conflicts(conn)
    assert (held.hub_value, held.system_value) == ("Head Buyer", "Director")
    resolve_conflict(store, held.id, winner, clock=clock)  # type: ignore[arg-type]
    run_sync(store, system, profile, clock)
    run_sync(store, system, profile, clock)
    expected = "Director" if winner == "system" else "Head Buyer"
    with store.transaction() as conn:
        assert records.get(conn, person).data["job_title"] == expected  # type: ignore[union-attr]
    assert system.get("person", "1")["title"] == expected  # type: ignore[index]


def _held_then_agreed(store: HubStore, system: MemoryConnector, clock: ManualClock) -> int:
    """Ann's email edited on both sides (held for review), then set in the system to the
    hub's value: the sides agree again. Returns Ann's hub id."""
    profile = memory_profile(rule="hold")
    run_sync(store, system, profile, clock)
    person = _person(store)
    edit_record(store, person, {"email": "hub@acme.example"}, clock=clock)
    clock.advance(timedelta(minutes=1))
    system.put("person", "1", {"email": "sys@acme.example"})
    run_sync(store, system, profile, clock)  # both changed: held for review
    with store.transaction() as conn:
        assert [c.field for c in bookkeeping.open_conflicts(conn, "crm")] == ["email"]
    system.put("person", "1", {"email": "hub@acme.example"})  # the system's user agrees
    run_sync(store, system, profile, clock)
    return person


def test_a_held_conflict_the_sides_settle_themselves_is_closed_not_left_open(
    store: HubStore, clock: ManualClock
) -> None:
    system = _system(clock)
    _held_then_agreed(store, system, clock)
    with store.transaction() as conn:
        assert links.by_external(conn, "crm", "person", ["1"])["1"].held == []
        assert bookkeeping.open_conflicts(conn, "crm") == []
        (settled,) = bookkeeping.list_conflicts(conn)
    assert (settled.status, settled.winner) == ("resolved", "agreed")
    assert settled.resolved_at is not None
    assert "both sides hold the same value again" in settled.reason


def test_resolving_a_conflict_the_sides_settled_is_refused_and_changes_nothing(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile(rule="hold")
    person = _held_then_agreed(store, system, clock)
    with store.transaction() as conn:
        (settled,) = bookkeeping.list_conflicts(conn)
        before = records.get(conn, person)
        link = links.by_external(conn, "crm", "person", ["1"])["1"]
    with pytest.raises(AccordError, match="both sides hold the same value again"):
        resolve_conflict(store, settled.id, "system", clock=clock)
    with store.transaction() as conn:
        assert records.get(conn, person) == before
        assert links.by_external(conn, "crm", "person", ["1"])["1"].base == link.base
        assert bookkeeping.list_conflicts(conn)[0].status == "resolved"
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        assert records.get(conn, person).data["email"] == "hub@acme.example"  # type: ignore[union-attr]
    assert system.get("person", "1")["email"] == "hub@acme.example"  # type: ignore[index]


def _held_job_title(
    store: HubStore, clock: ManualClock
) -> tuple[MemoryConnector, Profile, int, int]:
    """Ann's job title changed on both sides: held for review. Crm is sent no new people
    (a record entered in the hub is only linked by a merge). Returns crm, the profile,
    Ann's hub id and her company's."""
    system, profile = _system(clock, title="Clerk"), memory_profile("hold")
    profile.entities[1].create_in_system = "never"
    run_sync(store, system, profile, clock)
    ann = _person(store)
    edit_record(store, ann, {"job_title": "Buyer"}, clock=clock)
    system.put("person", "1", {"title": "Manager"})
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        company = records.get(conn, ann).data["company"]  # type: ignore[union-attr]
    return system, profile, ann, company


def _entered_again(store: HubStore, clock: ManualClock, company: int, job_title: str) -> int:
    ann = {"first_name": "Ann", "last_name": "Lee", "job_title": job_title}
    return people.create_contact(store, company, ann, clock=clock)


def test_a_held_conflict_follows_its_link_to_the_survivor_of_a_merge_and_resolves(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, ann, company = _held_job_title(store, clock)
    survivor = _entered_again(store, clock, company, "Director")
    assert merges.merge_people(store, survivor, ann, clock=clock).repointed == ["crm:person:1"]
    with store.transaction() as conn:
        (held,) = bookkeeping.open_conflicts(conn, "crm")
    assert (held.record_id, held.field) == (survivor, "job_title")
    assert (held.hub_value, held.system_value) == ("Director", "Manager")

    resolve_conflict(store, held.id, "hub", clock=clock)
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        assert links.by_external(conn, "crm", "person", ["1"])["1"].held == []
        assert bookkeeping.open_conflicts(conn) == []
    assert system.get("person", "1")["title"] == "Director"  # type: ignore[index]


def test_a_merge_that_gives_the_hub_the_systems_value_of_a_held_field_settles_it(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile, ann, company = _held_job_title(store, clock)
    survivor = _entered_again(store, clock, company, "Manager")  # what crm holds
    merges.merge_people(store, survivor, ann, clock=clock)
    with store.transaction() as conn:
        assert links.by_external(conn, "crm", "person", ["1"])["1"].held == []
        assert bookkeeping.open_conflicts(conn) == []
        (settled,) = bookkeeping.list_conflicts(conn)
    assert (settled.record_id, settled.winner) == (survivor, "agreed")
    system.put("person", "1", {"title": "Head Buyer"})  # no longer held: it syncs again
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        assert records.get(conn, survivor).data["job_title"] == "Head Buyer"  # type: ignore[union-attr]


def test_an_edit_made_while_a_failed_push_is_retried_is_sent_by_the_next_run(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    person = _person(store)
    system.tables["person"].validators["email"] = lambda v: (
        "blocked domain" if str(v).endswith("@blocked.example") else None
    )
    edit_record(store, person, {"email": "ann@blocked.example"}, clock=clock)
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        assert [e.field for e in bookkeeping.open_errors(conn, "crm", "person", "push")] == [
            "email"
        ]
    edit_record(store, person, {"email": "ann@acme.example"}, clock=clock)  # the fix, retried
    edited: list[object] = []

    def edit_while_sending(step: str) -> None:
        if step == "push.before_apply" and not edited:
            edited.append(edit_record(store, person, {"job_title": "Buyer"}, clock=clock))

    run_sync(store, system, profile, clock, checkpoint=edit_while_sending)
    assert edited and system.get("person", "1")["email"] == "ann@acme.example"  # type: ignore[index]
    run_sync(store, system, profile, clock)
    assert system.get("person", "1")["title"] == "Buyer"  # type: ignore[index]
    with store.transaction() as conn:
        assert bookkeeping.open_errors(conn, "crm") == []
    assert run_sync(store, system, profile, clock).writes == 0


def test_a_merge_made_while_a_push_is_sent_keeps_the_system_record_on_the_survivor(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    ann = _person(store)
    with store.transaction() as conn:
        company = records.get(conn, ann).data["company"]  # type: ignore[union-attr]
    edit_record(store, ann, {"job_title": "Buyer"}, clock=clock)  # on its way to crm
    merged: list[int] = []

    def merge_while_sending(step: str) -> None:
        # Ann entered again in the hub, and the old record merged into the new one.
        if step == "push.before_apply" and not merged:
            again = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.example"}
            survivor = people.create_contact(store, company, again, clock=clock)
            assert merges.merge_people(store, survivor, ann, clock=clock).repointed == [
                "crm:person:1"
            ]
            merged.append(survivor)

    run_sync(store, system, profile, clock, checkpoint=merge_while_sending)
    run_sync(store, system, profile, clock)
    assert _person(store) == merged[0]
    assert {key: row.values for key, row in system.tables["person"].rows.items()} == {
        "1": {
            "company_key": "1",
            "first": "Ann",
            "last": "Lee",
            "active": True,
            "title": "Buyer",
            "email": "ann@acme.example",
        }
    }
    with store.transaction() as conn:
        assert bookkeeping.open_errors(conn, "crm") == []
    assert run_sync(store, system, profile, clock).writes == 0


class _NumbersCompanies(MemoryConnector):
    """Gives each company it creates an account number of its own (the hub only reads it)."""

    def apply(self, entity: str, operations: Sequence[Operation]) -> list[OperationResult]:
        results = super().apply(entity, operations)
        for op, result in zip(operations, results, strict=True):
            if entity == "company" and op.kind == "create" and result.ok and result.key:
                self.tables["company"].rows[result.key].values["code"] = f"N{result.key}"
        return results


def test_an_edit_made_while_a_create_is_sent_is_not_lost_to_the_number_it_was_given(
    store: HubStore, clock: ManualClock
) -> None:
    # The hub writes the number the system gave the new account on top of the edit made
    # meanwhile: that write is the system's, the edit below it still has to go out.
    system = _NumbersCompanies("crm", clock=clock)
    companies = EntityMap(
        "company",
        "company",
        [FieldMap("code", "code", direction="in"), FieldMap("name", "name")],
    )
    profile = Profile("memory", [companies])
    company = create_record(store, "company", {"name": "Kauri Joinery"}, clock=clock)
    edited: list[object] = []

    def edit_while_sending(step: str) -> None:
        if step == "push.before_apply" and not edited:
            edited.append(edit_record(store, company, {"name": "Kauri Joinery Ltd"}, clock=clock))

    run_sync(store, system, profile, clock, checkpoint=edit_while_sending)
    run_sync(store, system, profile, clock)
    assert edited and system.get("company", "1") == {"name": "Kauri Joinery Ltd", "code": "N1"}
    with store.transaction() as conn:
        assert records.get(conn, company).data["code"] == "N1"  # type: ignore[union-attr]
    assert run_sync(store, system, profile, clock).writes == 0


def test_ctrl_c_during_a_run_records_it_as_stopped_not_running(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()

    def interrupt(step: str) -> None:
        if step == "pull.batch.before_cursor":
            raise KeyboardInterrupt

    ctx = SyncContext(store, system, profile, "crm", clock, checkpoint=interrupt)
    with pytest.raises(KeyboardInterrupt):
        sync(ctx)
    with store.transaction() as conn:
        (run,) = bookkeeping.recent_runs(conn, system="crm")
    assert run.status == "stopped" and run.finished_at is not None


class _ReadsTwice(MemoryConnector):
    """Returns one person twice in a read, as a system with duplicate link rows does."""

    def read_changes(self, entity: str, cursor: str | None, batch_size: int) -> Any:
        for batch in super().read_changes(entity, cursor, batch_size):
            twice = [r for r in batch.records if r.key == "1"]
            yield ChangeBatch([*batch.records, *twice], batch.cursor, batch.listed_whole)


def test_a_record_read_twice_in_one_batch_is_taken_once_and_named(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock, _ReadsTwice("crm", clock=clock)), memory_profile()
    system.put("person", None, {"company_key": "1", "first": "Bo", "last": "Ng", "active": True})
    run_sync(store, system, profile, clock)  # the whole batch goes on
    assert _person(store, "1") != _person(store, "2")
    with store.transaction() as conn:
        (error,) = bookkeeping.open_errors(conn, "crm", "person", "pull")
    assert error.external_id == "1" and "2 times in one read" in error.message


def test_crash_mid_pull_rereads_the_batch_and_duplicates_nothing(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    ctx = SyncContext(
        store, system, profile, "crm", clock, checkpoint=crash_at("pull.batch.before_cursor")
    )  # type: ignore[arg-type]
    with pytest.raises(CrashError):
        sync(ctx)
    assert _count(store, records_table) == 0  # the batch rolled back whole
    run_sync(store, system, profile, clock)
    assert _count(store, records_table) == 2
    with store.transaction() as conn:
        runs = bookkeeping.recent_runs(conn)
    assert [r.status for r in runs] == ["ok", "failed"]  # an exception, unlike a kill, is seen


def test_edit_on_one_side_against_delete_on_the_other_keeps_the_edit(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    person = _person(store)
    # Hub deletes, the system edits: the edit wins and the hub record comes back.
    delete_record(store, person, clock=clock)
    system.put("person", "1", {"title": "Director"})
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        record = records.get(conn, person)
        shown = bookkeeping.list_conflicts(conn)
    assert record is not None and not record.deleted and record.data["job_title"] == "Director"
    assert any("edit is kept" in c.reason for c in shown)
    # The system deletes, the hub edits: the hub keeps the record and the edit.
    edit_record(store, person, {"job_title": "Chair"}, clock=clock)
    system.remove("person", "1")
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        record = records.get(conn, person)
        shown = bookkeeping.list_conflicts(conn)
    assert record is not None and not record.deleted and record.data["job_title"] == "Chair"
    assert record.data["active"] is True
    assert any("edited in the hub" in c.reason for c in shown)


def test_a_delete_in_the_system_keeps_a_hub_edit_of_a_field_it_left_empty(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()  # Ann has no title in the system
    run_sync(store, system, profile, clock)
    person = _person(store)
    edit_record(store, person, {"job_title": "Buyer"}, clock=clock)
    system.remove("person", "1")
    run_sync(store, system, profile, clock)
    with store.transaction() as conn:
        record = records.get(conn, person)
        shown = bookkeeping.list_conflicts(conn)
    assert record is not None and record.data["active"] is True
    assert record.data["job_title"] == "Buyer"
    assert [c.field for c in shown if "edited in the hub" in c.reason] == ["job_title"]


def test_a_merge_into_a_record_deleted_in_the_system_keeps_the_person_there_active(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock, title="Clerk"), memory_profile()
    anne = {"company_key": "1", "first": "Anne", "last": "Lee", "email": "ann@acme.example"}
    system.put("person", None, {**anne, "active": True})
    run_sync(store, system, profile, clock)
    survivor, loser = _person(store, "1"), _person(store, "2")
    # Deleted in crm after an edit in the hub: the hub keeps Ann, her crm link retired.
    edit_record(store, survivor, {"job_title": "Buyer"}, clock=clock)
    system.remove("person", "1")
    run_sync(store, system, profile, clock)

    result = merges.merge_people(store, survivor, loser, clock=clock)
    run_sync(store, system, profile, clock)
    assert system.get("person", "2") == {
        **anne,
        "first": "Ann",
        "title": "Buyer",
        "active": True,
    }
    assert _person(store, "2") == survivor
    with store.transaction() as conn:
        assert bookkeeping.open_errors(conn, "crm") == []
    assert run_sync(store, system, profile, clock).writes == 0
    # The retired link gave way; the merge's record names it.
    assert (result.repointed, result.replaced) == (["crm:person:2"], ["crm:person:1"])


def test_a_record_changed_while_the_run_reads_it_is_not_overwritten_stale(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    edit_record(store, _person(store), {"job_title": "Buyer"}, clock=clock)

    def edit_in_between(step: str) -> None:
        if step == "push.before_apply":
            system.put("person", "1", {"title": "Owner"})  # someone edits the system now

    sync(SyncContext(store, system, profile, "crm", clock, checkpoint=edit_in_between))
    assert system.get("person", "1")["title"] == "Owner"  # type: ignore[index]
    with store.transaction() as conn:
        errors = bookkeeping.open_errors(conn, "crm")
    assert errors and "changed in the system while syncing" in errors[0].message
    # The next run merges it by the policy (field-level: the later system edit wins).
    run_sync(store, system, profile, clock)
    person = _person(store)
    with store.transaction() as conn:
        record = records.get(conn, person)
        assert bookkeeping.open_errors(conn, "crm") == []
    assert record is not None and record.data["job_title"] == "Owner"


def test_lost_link_state_deletes_nothing_and_differences_become_conflicts(
    store: HubStore, clock: ManualClock
) -> None:
    system, profile = _system(clock), memory_profile()
    run_sync(store, system, profile, clock)
    person = _person(store)
    edit_record(store, person, {"job_title": "Buyer"}, clock=clock)
    system.put("person", "1", {"title": "Owner"})
    with store.transaction() as conn:
        conn.execute(delete(links_table))
        bookkeeping.set_cursor(conn, "crm", "person", pull_cursor="0", push_seq=0)
        bookkeeping.set_cursor(conn, "crm", "company", pull_cursor="0", push_seq=0)
    run_sync(store, system, profile, clock)
    assert _count(store, records_table) == 2  # matched, not duplicated
    assert len(system.tables["person"].rows) == 1
    assert system.get("person", "1")["title"] == "Owner"  # type: ignore[index]
    with store.transaction() as conn:
        record = records.get(conn, person)
        held = bookkeeping.open_conflicts(conn, "crm")
    assert record is not None and record.data["job_title"] == "Buyer"
    assert [(c.field, c.hub_value, c.system_value) for c in held] == [
        ("job_title", "Buyer", "Owner")
    ]


def test_crash_after_creating_in_a_second_erp_links_by_marker_not_by_number(tmp_path: Path) -> None:
    """Killed after erp2 took a batch of creates, before the links were saved: the next
    run must link erp2's rows to the records that made them (by marker), never to other
    records that happen to share erp2's own account numbers."""
    from accord.connectors.sql import SqlConnector
    from accord.presets import exo as exo_preset
    from accord.sandbox.exo import create_schema, generate
    from accord.service import sync as sync_service
    from accord.store.database import make_system_engine
    from accord.store.schema import records as records_table

    generate(f"sqlite:///{tmp_path / 'erp1.db'}", customers=120, contacts=200, seed=5)
    engine = make_system_engine(f"sqlite:///{tmp_path / 'erp2.db'}")
    create_schema(engine)
    engine.dispose()
    config = exo_erps_config(tmp_path, "erp1", "erp2")
    store = HubStore(config.hub.database)
    clock = ManualClock(step=timedelta(milliseconds=1))
    sync_service.run(config, "erp1", store=store, clock=clock)
    with store.transaction() as conn:
        names = {
            r.id: r.data.get("name")
            for r in conn.execute(select(records_table).where(records_table.c.entity == "company"))
        }
    erp2 = SqlConnector("erp2", f"sqlite:///{tmp_path / 'erp2.db'}", exo_preset.tables(), clock)
    profile = exo_preset.profile(owns_codes=False)
    with pytest.raises(CrashError):
        sync(
            SyncContext(
                store,
                erp2,
                profile,
                "erp2",
                clock,
                batch_size=50,
                checkpoint=crash_at("push.after_apply"),
            )
        )  # type: ignore[arg-type]
    sync_service.run(config, "erp2", store=store, clock=clock)
    sync_service.run(config, "erp2", store=store, clock=clock)
    with store.transaction() as conn:
        after = {
            r.id: r.data.get("name")
            for r in conn.execute(select(records_table).where(records_table.c.entity == "company"))
        }
        linked = {key: hub_id for key, hub_id in links.external_ids(conn, "erp2", "company")}
        assert links.pending(conn, "erp2", "company") == []
    assert after == names  # no hub company renamed, none created twice
    rows = {r.key: r.values["NAME"] for r in erp2.read_by_keys("customers", list(linked))}
    assert all(rows[key] == names[hub_id] for key, hub_id in linked.items())
    assert len(list(erp2.list_keys("customers"))) == len(linked)  # no duplicate in erp2
    erp2.close()
    store.close()


def test_a_read_does_not_wait_for_a_sync_holding_the_write_lock(sqlite_url: str) -> None:
    from accord.store import HubStore

    store = HubStore(sqlite_url)
    other = HubStore(sqlite_url, create=False)
    try:
        with other.transaction() as writing:  # BEGIN IMMEDIATE: the write lock is held
            writing.exec_driver_sql("UPDATE counters SET value = value WHERE 1 = 0")
            with store.reading() as conn:  # would wait 30 s, then fail, if it took the lock
                assert conn.exec_driver_sql("SELECT count(*) FROM records").scalar_one() == 0
    finally:
        other.close()
        store.close()
