"""What plans and errors show a role whose card layout hides a field (S003-05)."""

from __future__ import annotations

from accord.clock import ManualClock
from accord.connectors.memory import MemoryConnector
from accord.service import queries
from accord.service.card_layout import FieldRule, plan_for_role, save_layout
from accord.service.records import edit_record
from accord.store import HubStore, links
from tests.support import memory_profile, run_sync


def test_s003_05_a_plan_and_the_errors_quote_no_value_of_a_field_the_card_hides(
    store: HubStore, clock: ManualClock
) -> None:
    """An invalid email's error quotes the value: a role the email is hidden from is told
    the field and that a value was refused, not the value."""
    system = MemoryConnector("crm", clock=clock)
    acme = system.put("company", None, {"code": "A1", "name": "Acme", "active": True})
    person = {"company_key": acme, "first": "Ann", "last": "Lee", "active": True}
    system.put("person", None, {**person, "email": "ann.secret@@x"})
    save_layout(store, "person", "editor", [FieldRule("email", "hidden")])
    plan = run_sync(store, system, memory_profile(), clock, dry_run=True)
    assert "ann.secret" in repr(plan.changes)  # the full plan names it
    shown = plan_for_role(store, plan, "editor")
    assert "ann.secret" not in repr(shown.changes), shown.changes
    assert any(c.action == "error" and c.field == "email" for c in shown.changes)
    run_sync(store, system, memory_profile(), clock)
    errors = queries.open_errors(store)
    assert "ann.secret" in errors[0].message
    seen = queries.errors_for(store, errors, "editor")
    assert [(e.field, "ann.secret" in e.message) for e in seen] == [("email", False)]
    assert queries.errors_for(store, errors, "admin")[0].message == errors[0].message


def test_s003_05_a_refusal_the_system_would_make_quotes_no_hidden_value_in_the_plan(
    store: HubStore, clock: ManualClock
) -> None:
    """A dry run learns what the system would refuse (the connector's ``refusals``); its
    reason may quote the value, so a role the field is hidden from is not shown it."""
    system = MemoryConnector("crm", clock=clock)
    acme = system.put("company", None, {"code": "A1", "name": "Acme", "active": True})
    ann = system.put("person", None, {"company_key": acme, "first": "Ann", "last": "Lee"})
    run_sync(store, system, memory_profile(), clock)
    system.tables["person"].validators["title"] = lambda value: f"no such title: {value!r}"
    with store.transaction() as conn:
        hub_id = links.by_external(conn, "crm", "person", [ann])[ann].hub_id
    edit_record(store, hub_id, {"job_title": "Secret Agent"}, clock=clock)
    save_layout(store, "person", "editor", [FieldRule("job_title", "hidden")])
    plan = run_sync(store, system, memory_profile(), clock, dry_run=True)
    [refused] = [c for c in plan.changes if c.direction == "system" and c.action == "error"]
    assert refused.field == "job_title" and "Secret Agent" in refused.reason
    shown = plan_for_role(store, plan, "editor")
    assert "Secret Agent" not in repr(shown.changes), shown.changes
