"""Reconcile one linked record: a pure decision per field from base, hub and system.

Per field: ``system != base`` means the system changed it, ``hub != base`` that the hub
did. One side changed: take it. Both changed to the same value: agree. Both changed to
different values: the conflict policy decides, or the field is held for review. Nothing
here reads or writes anything; the caller applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accord.mapping.profile import ConflictPolicy

MISSING: Any = object()


@dataclass(frozen=True)
class FieldConflict:
    field: str
    base: Any
    hub: Any
    system: Any
    hub_time: str | None
    system_time: str | None
    winner: str | None  # "hub", "system", or None when held for review
    reason: str


@dataclass
class Decision:
    take: dict[str, Any] = field(default_factory=dict)  # system values the hub must take
    base: dict[str, Any] = field(default_factory=dict)  # new base values
    conflicts: list[FieldConflict] = field(default_factory=list)
    hold: set[str] = field(default_factory=set)  # fields newly held for review
    release: set[str] = field(default_factory=set)  # held fields that agree again
    # Held fields as they are now, (hub, system): the open conflict shows the latest
    # values, so a person resolving it picks from what the two sides hold, not held.
    still_held: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def system_changed(self) -> bool:
        return bool(self.take)


def reconcile(
    *,
    base: dict[str, Any],
    hub: dict[str, Any],
    system: dict[str, Any],
    policy: ConflictPolicy,
    system_name: str,
    hub_times: dict[str, str],
    hub_record_time: str,
    system_time: str | None,
    held: set[str] | frozenset[str] = frozenset(),
    first_link: bool = False,
    hub_origins: dict[str, str] | None = None,
) -> Decision:
    """Decide every field the system sent.

    ``first_link`` is a link made by matching, with no agreed base: a difference there is
    not a change anyone made since a sync, so it is held for review rather than resolved
    by a rule that assumes it was (this is also what happens when link state is lost).
    ``hub_origins`` names, per field, the system the hub's value came from ("hub" for an
    edit made in the hub): an exact tie between two outside systems goes to the one whose
    name sorts first, whichever of them syncs first.
    """
    decision = Decision()
    for name, s in system.items():
        b = base.get(name, MISSING)
        h = hub.get(name)
        if b is MISSING:
            b = None
        if name in held:
            if s == h:
                decision.release.add(name)
                decision.base[name] = s
            else:
                decision.still_held[name] = (h, s)
            continue
        system_changed = s != b
        hub_changed = h != b
        if not system_changed:
            continue  # the hub's own changes go out in the push
        if not hub_changed or h == s:
            if h != s:
                decision.take[name] = s
            decision.base[name] = s
            continue
        if first_link and _same_but_spelling(h, s):
            # Linked because they are the same; a difference of case or spacing is not a
            # conflict: the hub's spelling stays and goes out with the push.
            decision.base[name] = s
            continue
        if first_link and h is not None and s is not None:
            decision.hold.add(name)
            decision.conflicts.append(
                FieldConflict(
                    name,
                    None,
                    h,
                    s,
                    hub_times.get(name),
                    system_time,
                    None,
                    "values differ on linking (no agreed base): held for review",
                )
            )
            continue
        winner, reason = _decide(
            name,
            policy,
            system_name,
            hub_times.get(name) or hub_record_time,
            hub_record_time,
            system_time,
            (hub_origins or {}).get(name),
        )
        decision.conflicts.append(
            FieldConflict(name, b, h, s, hub_times.get(name), system_time, winner, reason)
        )
        if winner is None:
            decision.hold.add(name)
        elif winner == "system":
            decision.take[name] = s
            decision.base[name] = s
        else:
            # The base records what the system holds now; the push then sends the hub's value.
            decision.base[name] = s
    return decision


def _same_but_spelling(a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _decide(
    name: str,
    policy: ConflictPolicy,
    system_name: str,
    hub_field_time: str,
    hub_record_time: str,
    system_time: str | None,
    hub_origin: str | None,
) -> tuple[str | None, str]:
    if policy.rule == "hold":
        return None, "both sides changed: held for review"
    if policy.rule == "priority":
        order = policy.priority.get(name) or policy.priority.get("*") or ["hub"]
        for side in order:
            if side == "hub":
                return "hub", f"source priority for {name}: hub before {system_name}"
            if side == system_name:
                return "system", f"source priority for {name}: {system_name} before hub"
        return "hub", f"source priority for {name}: {system_name} not listed, hub kept"
    hub_time = hub_field_time if policy.rule == "field_lww" else hub_record_time
    level = "field" if policy.rule == "field_lww" else "record"
    if system_time is None:
        return "hub", f"{level}-level last writer wins: {system_name} keeps no modification time"
    if system_time > hub_time:
        return (
            "system",
            f"{level}-level last writer wins: {system_name} {system_time} > hub {hub_time}",
        )
    if system_time < hub_time:
        return (
            "hub",
            f"{level}-level last writer wins: hub {hub_time} > {system_name} {system_time}",
        )
    # (Record-level: only when the field's write is the record's newest, so its origin
    # is the origin of the hub's version.)
    if (
        hub_origin is not None
        and hub_origin not in ("hub", system_name)
        and (hub_field_time == hub_time)
    ):
        # Both values came from outside systems at the same moment: the order the systems
        # sync in must not pick the winner, so their names do.
        first = min(hub_origin, system_name)
        return (
            "system" if first == system_name else "hub",
            f"{level}-level last writer wins: equal times of {hub_origin} and {system_name},"
            f" tie goes to {first} (first by name)",
        )
    return (
        policy.tie_winner,
        f"{level}-level last writer wins: equal times, tie goes to {policy.tie_winner}",
    )
