"""The pure three-way merge: one decision per field from base, hub and system."""

from __future__ import annotations

from typing import Any

from accord.engine.reconcile import reconcile
from accord.mapping.profile import ConflictPolicy


def decide(
    base: dict[str, Any],
    hub: dict[str, Any],
    system: dict[str, Any],
    rule: str = "field_lww",
    hub_time: str = "2026-01-01T00:00:01.000000Z",
    system_time: str | None = "2026-01-01T00:00:02.000000Z",
    **kwargs: Any,
) -> Any:
    return reconcile(
        base=base,
        hub=hub,
        system=system,
        policy=ConflictPolicy(rule=rule, **kwargs),  # type: ignore[arg-type]
        system_name="erp",
        hub_times={name: hub_time for name in hub},
        hub_record_time=hub_time,
        system_time=system_time,
    )


def test_system_change_alone_is_taken() -> None:
    d = decide({"a": 1}, {"a": 1}, {"a": 2})
    assert d.take == {"a": 2} and d.base == {"a": 2} and not d.conflicts


def test_hub_change_alone_is_left_for_the_push() -> None:
    d = decide({"a": 1}, {"a": 3}, {"a": 1})
    assert d.take == {} and d.base == {} and not d.conflicts


def test_both_changed_to_the_same_value_agree_without_conflict() -> None:
    d = decide({"a": 1}, {"a": 5}, {"a": 5})
    assert d.take == {} and d.base == {"a": 5} and not d.conflicts


def test_field_lww_newer_system_wins_and_the_conflict_is_logged() -> None:
    d = decide({"a": 1}, {"a": 2}, {"a": 3})
    assert d.take == {"a": 3}
    assert d.conflicts[0].winner == "system" and "last writer wins" in d.conflicts[0].reason


def test_field_lww_newer_hub_wins_and_base_records_the_system_value() -> None:
    d = decide({"a": 1}, {"a": 2}, {"a": 3}, hub_time="2026-01-01T00:00:09.000000Z")
    assert d.take == {} and d.base == {"a": 3} and d.conflicts[0].winner == "hub"


def test_equal_times_break_the_tie_deterministically() -> None:
    same = "2026-01-01T00:00:05.000000Z"
    assert decide({"a": 1}, {"a": 2}, {"a": 3}, hub_time=same, system_time=same).take == {}
    won = decide({"a": 1}, {"a": 2}, {"a": 3}, hub_time=same, system_time=same, tie_winner="system")
    assert won.take == {"a": 3}


def test_priority_rule_follows_the_listed_order_per_field() -> None:
    d = decide(
        {"a": 1, "b": 1},
        {"a": 2, "b": 2},
        {"a": 3, "b": 3},
        rule="priority",
        priority={"a": ["erp", "hub"], "*": ["hub"]},
    )
    assert d.take == {"a": 3}


def test_hold_rule_keeps_both_values_and_holds_the_field() -> None:
    d = decide({"a": 1}, {"a": 2}, {"a": 3}, rule="hold")
    assert d.take == {} and d.hold == {"a"} and d.conflicts[0].winner is None


def test_a_field_the_system_does_not_send_is_never_touched() -> None:
    d = decide({"a": 1}, {"a": 1, "department": "Sales"}, {"a": 1})
    assert "department" not in d.take and "department" not in d.base


def test_first_link_differences_are_held_not_overwritten() -> None:
    d = reconcile(
        base={},
        hub={"a": "hub", "b": None, "c": "x"},
        system={"a": "sys", "b": "new", "c": "x"},
        policy=ConflictPolicy(),
        system_name="erp",
        hub_times={},
        hub_record_time="",
        system_time=None,
        first_link=True,
    )
    assert d.hold == {"a"} and d.take == {"b": "new"} and d.base == {"b": "new", "c": "x"}


def test_record_lww_uses_the_record_time_not_the_field_time() -> None:
    d = reconcile(
        base={"a": 1},
        hub={"a": 2},
        system={"a": 3},
        policy=ConflictPolicy(rule="record_lww"),
        system_name="erp",
        hub_times={"a": "2026-01-01T00:00:09.000000Z"},
        hub_record_time="2026-01-01T00:00:01.000000Z",
        system_time="2026-01-01T00:00:05.000000Z",
    )
    assert d.take == {"a": 3}


def test_an_exact_tie_between_two_systems_goes_to_the_first_by_name_in_either_order() -> None:
    """The hub holds one system's value and another system changed the field at the very
    same moment: the winner is the same whichever of them synced first."""
    same = "2026-01-01T00:00:05.000000Z"

    def tie(hub_from: str, system_name: str) -> Any:
        return reconcile(
            base={"a": 1},
            hub={"a": f"from {hub_from}"},
            system={"a": f"from {system_name}"},
            policy=ConflictPolicy(rule="field_lww"),
            system_name=system_name,
            hub_times={"a": same},
            hub_record_time=same,
            system_time=same,
            hub_origins={"a": hub_from},
        )

    erp1_first = tie("erp1", "erp2")  # erp1 synced first; now erp2's value meets it
    erp2_first = tie("erp2", "erp1")
    assert erp1_first.take == {} and erp1_first.conflicts[0].winner == "hub"
    assert erp2_first.take == {"a": "from erp1"}
    assert "tie goes to erp1" in erp2_first.conflicts[0].reason
    # A hub user's edit at the same moment still follows the stated tie rule.
    own = decide({"a": 1}, {"a": 2}, {"a": 3}, hub_time=same, system_time=same)
    assert own.take == {} and own.conflicts[0].winner == "hub"
