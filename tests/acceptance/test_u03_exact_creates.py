"""U-03 with Exact Online: a create whose answer is lost, or a run killed between the
create and its bookkeeping, makes no second account; the next run finishes the work."""

from __future__ import annotations

import pytest

from accord.clock import SystemClock
from accord.connectors.base import Operation
from accord.connectors.exact_markers import marker_code
from accord.engine import SyncContext, sync
from accord.errors import ConfigError
from accord.sandbox.exact import Fault
from accord.sandbox.exact_data import ENTITY_ACCOUNT
from accord.service import sync as sync_service
from accord.service.exact_customers import create_customer
from accord.service.records import create_record
from accord.service.systems import open_system
from accord.store import bookkeeping, links, records
from tests.acceptance.exact_support import SYSTEM, ExactWorld, WorldFactory


class KilledError(Exception):
    """Stands in for the process dying at a named step."""


def _kill_at(step: str) -> object:
    def checkpoint(name: str) -> None:
        if name == step:
            raise KilledError(step)

    return checkpoint


def _named(world: ExactWorld, name: str) -> list[dict[str, object]]:
    return [a for a in world.accounts() if a["Name"] == name]


def _companies_named(world: ExactWorld, name: str) -> list[int]:
    with world.store.transaction() as conn:
        ids = [hub_id for _, hub_id in links.external_ids(conn, SYSTEM, "company")]
        found = records.get_many(conn, ids).values()
    return [r.id for r in found if r.data.get("name") == name]


def test_u03_an_account_create_whose_answer_is_lost_is_made_once(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=1, filter_required=("crm/Accounts",))
    hub_id = create_record(world.store, "company", {"name": "Lost Answer Ltd"})
    server = world.sandbox.server
    server.inject(Fault("crm/Accounts", 201, method="POST", lose_answer=True))
    created = create_customer(world.config, SYSTEM, world.store, hub_id)
    assert server.stats["lost_answers"] == 1  # Exact made it, the answer never came
    (account,) = _named(world, "Lost Answer Ltd")
    assert created.account_id == account["ID"] and not created.refused
    # The account carries the create's marker in its code, and was read back by it.
    with world.store.transaction() as conn:
        link = links.by_hub(conn, SYSTEM, "company", [hub_id])[hub_id]
    assert link.state == "active" and link.marker is None
    code = str(account["Code"]).strip()
    assert len(code) == 18 and code.isdigit()
    assert any(
        r.startswith("GET ") and "crm/Accounts?" in r and "Code+eq" in r for r in server.requests
    )
    world.sync()
    assert len(world.accounts()) == 2
    assert _companies_named(world, "Lost Answer Ltd") == [hub_id]


@pytest.mark.parametrize("pull_first", [True, False], ids=["sync", "push-only"])
def test_u03_a_run_killed_after_the_create_leaves_one_account(
    make_exact: WorldFactory, pull_first: bool
) -> None:
    world = make_exact(accounts=2)
    world.sync()
    hub_id = create_record(
        world.store, "company", {"name": "Killed Run Ltd", "phone": "03 555 0188"}
    )
    connector, profile = open_system(world.config, SYSTEM)
    ctx = SyncContext(
        world.store,
        connector,
        profile,
        SYSTEM,
        SystemClock(),
        requested={hub_id},
        checkpoint=_kill_at("push.after_apply"),  # type: ignore[arg-type]
    )
    try:
        with pytest.raises(KilledError):
            sync(ctx)
    finally:
        connector.close()
    (account,) = _named(world, "Killed Run Ltd")  # made in Exact, not yet recorded
    with world.store.transaction() as conn:
        pending = links.by_hub(conn, SYSTEM, "company", [hub_id])[hub_id]
    assert pending.state == "pending" and pending.marker
    assert str(account["Code"]).strip() == marker_code(pending.marker)

    sync_service.run(world.config, SYSTEM, store=world.store, pull=pull_first, requested=[hub_id])
    assert len(_named(world, "Killed Run Ltd")) == 1 and len(world.accounts()) == 3
    with world.store.transaction() as conn:
        link = links.by_hub(conn, SYSTEM, "company", [hub_id])[hub_id]
        errors = bookkeeping.open_errors(conn, SYSTEM)
    assert link.state == "active" and link.external_id == account["ID"]
    assert errors == []
    world.sync()
    # No second hub company either: the pull knew the account as this create's.
    assert _companies_named(world, "Killed Run Ltd") == [hub_id]
    assert len(world.accounts()) == 3


@pytest.mark.parametrize("push_only", [False, True], ids=["sync", "push-only"])
def test_u03_a_contact_create_whose_answer_is_lost_is_matched_not_repeated(
    make_exact: WorldFactory, push_only: bool
) -> None:
    world = make_exact(accounts=1, max_contacts=0)
    world.sync()
    (account,) = world.accounts()
    company = world.hub_company(str(account["ID"])).id
    person = create_record(
        world.store, "person", {"company": company, "first_name": "Mere", "last_name": "Tane"}
    )
    server = world.sandbox.server
    server.inject(Fault("crm/Contacts", 201, method="POST", lose_answer=True))
    sync_service.run(world.config, SYSTEM, store=world.store, pull=False, requested=[person])
    assert len(world.contacts()) == 1  # made once: a create that may have happened is not repeated
    with world.store.transaction() as conn:
        (error,) = bookkeeping.open_errors(conn, SYSTEM)
    assert error.record_id == person and error.transient
    if push_only:
        # Sent again the same way ("send to Exact" once more, a push schedule): the run
        # pulls first, finds the contact by company and name, and does not make another.
        sync_service.run(world.config, SYSTEM, store=world.store, pull=False, requested=[person])
    else:
        world.sync()  # the pull finds the contact by company and name, and links it
    (contact,) = world.contacts()
    with world.store.transaction() as conn:
        link = links.by_hub(conn, SYSTEM, "person", [person])[person]
        assert bookkeeping.open_errors(conn, SYSTEM) == []
    assert link.state == "active" and link.external_id == contact["ID"]


def test_u03_a_repeated_account_create_returns_the_account_the_first_made(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=0)
    connector, _ = open_system(world.config, SYSTEM)
    try:
        first = connector.apply("accounts", [Operation("create", None, {"Name": "A"}, "m-1")])
        # The same create sent again after the hub changed the record meanwhile: one
        # account, holding what the repeated create sent (the engine takes it as agreed).
        again = connector.apply("accounts", [Operation("create", None, {"Name": "A2"}, "m-1")])
        other = connector.apply("accounts", [Operation("create", None, {"Name": "B"}, "m-2")])
        assert first[0].ok and again[0].ok and again[0].key == first[0].key
        assert other[0].ok and other[0].key != first[0].key
        assert sorted(str(a["Name"]) for a in world.accounts()) == ["A2", "B"]
        assert connector.capabilities("accounts").idempotent_create
        assert not connector.capabilities("contacts").idempotent_create
    finally:
        connector.close()
    assert world.data.get(ENTITY_ACCOUNT, str(first[0].key)) is not None


def test_u03_with_exact_numbering_account_creates_are_not_claimed_idempotent(
    make_exact: WorldFactory,
) -> None:
    world = make_exact(accounts=1)
    world.config.systems[SYSTEM].options["account_codes"] = "exact"
    connector, _ = open_system(world.config, SYSTEM)
    try:
        assert not connector.capabilities("accounts").idempotent_create
        (made,) = connector.apply("accounts", [Operation("create", None, {"Name": "N"}, "m-9")])
    finally:
        connector.close()
    account = world.data.get(ENTITY_ACCOUNT, str(made.key))
    assert account is not None and account["Code"].strip() == "2"  # Exact's next number
    world.config.systems[SYSTEM].options["account_codes"] = "sometimes"
    with pytest.raises(ConfigError, match="account_codes"):
        open_system(world.config, SYSTEM)
