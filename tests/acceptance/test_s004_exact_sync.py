"""Two-way sync with Exact Online through the "exact-online" preset, over real HTTP:
incremental pulls by sync timestamp, deletions from sync/Deleted, PUT updates, blocking
instead of deleting, token renewal mid-run, and a withdrawn consent ending the run."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from accord.connectors.exact import open_api
from accord.connectors.exact_auth import ReconnectError
from accord.sandbox.exact_data import ENTITY_ACCOUNT, ENTITY_CONTACT
from accord.service import exact_connect
from accord.service.exact_connect import token_store
from accord.service.records import delete_record, edit_record
from accord.store import bookkeeping, links, records
from accord.store.types import HubRecord
from tests.acceptance.exact_support import SYSTEM, ExactWorld, WorldFactory, consenting_browser


def _hub_companies(world: ExactWorld) -> list[HubRecord]:
    with world.store.transaction() as conn:
        ids = [hub_id for _, hub_id in links.external_ids(conn, SYSTEM, "company")]
        return list(records.get_many(conn, ids).values())


def test_s004_sync_pulls_accounts_and_contacts_then_only_changes(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=12)
    plan = world.sync()
    companies = _hub_companies(world)
    assert len(companies) == 12
    account = world.accounts()[0]
    hub = world.hub_company(str(account["ID"]))
    assert hub.data["name"] == account["Name"] and hub.data["code"] == account["Code"].strip()
    with world.store.transaction() as conn:
        assert links.count_active(conn, SYSTEM, "person") == len(world.contacts())
    assert plan.counts

    world.data.update(ENTITY_ACCOUNT, str(account["ID"]), {"Name": "Renamed Ltd"}, _now())
    before = len(world.sandbox.server.requests)
    world.sync()
    assert world.hub_company(str(account["ID"])).data["name"] == "Renamed Ltd"
    pulls = [r for r in world.sandbox.server.requests[before:] if "sync/CRM/Accounts" in r]
    # The second pull asks only for what changed after the stored timestamp.
    assert pulls and "Timestamp+gt+1L" not in pulls[0]


# A full read (`accord sync --full`) reads every account again from the first timestamp;
# the deletion feed goes on from where it was, or deletions made since would be lost.
@pytest.mark.parametrize("full_read", [False, True])
def test_s004_sync_an_account_deleted_in_exact_is_deactivated_in_the_hub(
    make_exact: WorldFactory, full_read: bool
) -> None:
    world = make_exact(accounts=5)
    world.sync()
    account = world.accounts()[1]
    for contact in world.contacts():
        if contact["Account"] == account["ID"]:
            world.data.delete(ENTITY_CONTACT, str(contact["ID"]), _now())
    world.data.delete(ENTITY_ACCOUNT, str(account["ID"]), _now())
    with world.store.transaction() as conn:
        hub_id = links.by_external(conn, SYSTEM, "company", [str(account["ID"])])[
            str(account["ID"])
        ].hub_id
    world.sync(full_read=full_read)
    with world.store.transaction() as conn:
        record = records.get(conn, hub_id)
    assert record is not None and record.data["active"] is False


def test_s004_sync_hub_edits_are_put_and_a_hub_delete_blocks_the_account(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=4)
    world.sync()
    first, second = world.accounts()[0], world.accounts()[1]
    hub_first = world.hub_company(str(first["ID"]))
    edit_record(world.store, hub_first.id, {"phone": "+64 9 555 0101", "name": "Hub Name Ltd"})
    delete_record(world.store, world.hub_company(str(second["ID"])).id)
    world.sync()
    after = world.data.get(ENTITY_ACCOUNT, str(first["ID"]))
    assert after is not None and after["Name"] == "Hub Name Ltd"
    assert after["Phone"] == "+6495550101"
    blocked = world.data.get(ENTITY_ACCOUNT, str(second["ID"]))
    assert blocked is not None and blocked["Blocked"] is True  # deactivated, not deleted
    assert any(
        r.startswith("PUT ") and "crm/Accounts(guid" in r for r in world.sandbox.server.requests
    )
    assert not any(r.startswith("DELETE") for r in world.sandbox.server.requests)


def test_s004_sync_a_refused_value_fails_alone_naming_the_field(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=3)
    world.sync()
    first = world.accounts()[0]
    hub = world.hub_company(str(first["ID"]))
    edit_record(world.store, hub.id, {"name": "N" * 60, "phone": "+64 9 555 0199"})
    world.sync()
    after = world.data.get(ENTITY_ACCOUNT, str(first["ID"]))
    assert after is not None and after["Phone"] == "+6495550199"  # the rest went through
    with world.store.transaction() as conn:
        errors = bookkeeping.open_errors(conn, SYSTEM)
    assert [(e.record_id, e.field) for e in errors] == [(hub.id, "name")]


def test_s004_an_access_token_expiring_mid_sync_is_renewed(make_exact: WorldFactory) -> None:
    world = make_exact(accounts=30, sync_page_size=7, refresh_not_before_seconds=0)
    server = world.sandbox.server
    server.after_calls(3, server.expire_access_tokens)
    world.sync()
    assert len(_hub_companies(world)) == 30
    assert server.stats["401"] == 1  # one refused call, renewed, repeated
    assert server.stats["token_calls"] == 2  # the code exchange and one renewal


def test_s004_a_short_lived_access_token_is_renewed_before_it_expires(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=3, access_token_seconds=3, refresh_not_before_seconds=0)
    time.sleep(3.1)
    world.sync()
    server = world.sandbox.server
    assert server.stats["401"] == 0 and server.stats["token_calls"] >= 2
    # The rotated refresh token was kept: the next run renews with it.
    time.sleep(3.1)
    world.sync()
    assert server.stats["401"] == 0


def test_s004_two_clients_of_one_connection_do_not_spend_each_others_refresh_token(
    make_exact: WorldFactory,
) -> None:
    # A sync beside the nightly receivables refresh or an import: both loaded one pair.
    world = make_exact(accounts=3, refresh_not_before_seconds=0)
    system = world.config.system(SYSTEM)
    first = open_api(SYSTEM, system, token_store(world.store, SYSTEM))
    second = open_api(SYSTEM, system, token_store(world.store, SYSTEM))
    try:
        assert first.first("crm/Accounts", {"$select": "ID"})
        assert second.first("crm/Accounts", {"$select": "ID"})
        for _ in range(2):  # each renews in turn, as their tokens come due
            first.keeper.renew()  # rotates the pair: the refresh token both held is spent
            second.keeper.renew()  # takes the stored pair rather than spend the old one
            assert first.first("crm/Accounts", {"$select": "ID"})
            assert second.first("crm/Accounts", {"$select": "ID"})
    finally:
        first.close()
        second.close()
    assert world.sandbox.server.stats["token_calls"] == 3  # the exchange and two renewals


def test_s004_a_revoked_refresh_token_ends_the_run_asking_to_reconnect(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=40, sync_page_size=9, refresh_not_before_seconds=0)
    server = world.sandbox.server
    server.after_calls(4, server.revoke_all)
    with pytest.raises(ReconnectError, match="reconnect with `accord connect exact"):
        world.sync()
    with world.store.transaction() as conn:
        run = bookkeeping.recent_runs(conn, 1, SYSTEM)[0]
        partial = links.count_active(conn, SYSTEM, "company")
    assert run.status == "failed" and "reconnect" in run.message
    # Whole batches only: every linked company is complete, none is pending.
    assert partial % 9 == 0 and partial < 40
    assert all(c.data.get("name") for c in _hub_companies(world))

    exact_connect.connect(world.config, SYSTEM, consenting_browser(), timeout=10)
    world.sync()
    companies = _hub_companies(world)
    assert len(companies) == 40 and len({c.id for c in companies}) == 40


def _now() -> datetime:
    return datetime.now(UTC)


def test_s004_a_dry_run_renews_the_token_and_keeps_the_rotated_one(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=5, access_token_seconds=5, refresh_not_before_seconds=0)
    time.sleep(5.1)
    plan = world.sync(dry_run=True)  # the hub is locked by the dry run meanwhile
    assert plan.counts and not _hub_companies(world)
    time.sleep(5.1)
    world.sync()  # renews with the refresh token the dry run got and saved at its end
    assert len(_hub_companies(world)) == 5
    assert world.sandbox.server.stats["401"] == 0


def test_s004_the_connector_reads_by_keys_lists_and_counts(make_exact: WorldFactory) -> None:
    from accord.service.systems import open_system

    world = make_exact(accounts=25, page_size=10)
    connector, _ = open_system(world.config, SYSTEM)
    try:
        ids = sorted(str(a["ID"]) for a in world.accounts())
        assert connector.count("accounts") == 25
        assert sorted(connector.list_keys("accounts")) == ids
        missing = "00000000-0000-0000-0000-00000000dead"
        found = connector.read_by_keys("accounts", [ids[3], missing, ids[0]])
        assert [r.key for r in found] == [ids[3], missing, ids[0]]
        assert found[1].deleted and not found[0].deleted and found[0].values["Name"]
        assert found[0].modified_at is not None
        many = connector.read_by_keys("accounts", ids)  # several filters of 20 keys
        assert [r.key for r in many] == ids and not any(r.deleted for r in many)
    finally:
        connector.close()


def test_s004_consent_withdrawn_during_a_push_keeps_what_was_written(
    make_exact: WorldFactory,
) -> None:
    from accord.service import sync as sync_service
    from accord.service.records import create_record

    world = make_exact(accounts=1, refresh_not_before_seconds=0)
    (generated,) = [a["Name"] for a in world.accounts()]
    names = ["Alpha Ltd", "Bravo Ltd", "Charlie Ltd"]
    ids = [create_record(world.store, "company", {"name": n}) for n in names]
    server = world.sandbox.server
    server.after_calls(2, server.revoke_all, method="POST")  # the second create is refused
    sync_service.run(world.config, SYSTEM, store=world.store, pull=False, requested=ids)
    assert sorted(a["Name"] for a in world.accounts()) == sorted([generated, "Alpha Ltd"])
    with world.store.transaction() as conn:
        made = links.by_hub(conn, SYSTEM, "company", ids)
        errors = bookkeeping.open_errors(conn, SYSTEM)
    # The account Exact made is linked, so no later run creates it a second time.
    assert made[ids[0]].state == "active" and made[ids[0]].external_id
    assert {e.record_id for e in errors} == {ids[1], ids[2]}
    assert all("reconnect" in e.message for e in errors)
    with pytest.raises(ReconnectError):
        world.sync()

    exact_connect.connect(world.config, SYSTEM, consenting_browser(), timeout=10)
    sync_service.run(world.config, SYSTEM, store=world.store, pull=False, requested=ids)
    # Each account exactly once: the one made before the refusal was not made again.
    assert sorted(a["Name"] for a in world.accounts()) == sorted([generated, *names])
    assert len(world.accounts()) == 4
