"""Card customisation (S003-05): per entity and role, fields shown, hidden or mandatory.

Every field of a card is ``edit`` (shown, editable), ``show`` (shown read-only) or
``hidden``, and may be mandatory. A layout saved for the role ``*`` applies to every role
without a row of its own for that field. Without any layout, admins and editors may edit
every field and viewers see every field read-only. The services enforce the layout on
every edit made on a person's behalf: a field the role may not edit, or a mandatory field
left empty, is refused with an error naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Connection

from accord.engine.plan import Plan
from accord.errors import RecordError, ValidationError
from accord.model.entities import entity_spec
from accord.store import HubStore
from accord.store import people as people_store

Access = Literal["edit", "show", "hidden"]
ACCESS: tuple[Access, ...] = ("edit", "show", "hidden")
ROLES = ("admin", "editor", "viewer")
EVERY_ROLE = "*"
CARD_ENTITIES = ("company", "person")


class FieldAccessError(RecordError):
    """The role may not change this field (card customisation): a permission, not a value."""


@dataclass(frozen=True)
class FieldRule:
    field: str
    access: Access = "edit"
    mandatory: bool = False
    position: int = 0


@dataclass
class CardLayout:
    entity: str
    role: str
    rules: dict[str, FieldRule] = field(default_factory=dict)

    def access(self, name: str) -> Access:
        rule = self.rules.get(name)
        if rule is not None:
            return rule.access
        return "show" if self.role == "viewer" else "edit"

    def mandatory(self) -> list[str]:
        return [name for name, rule in self.rules.items() if rule.mandatory]

    def visible(self, data: dict[str, Any]) -> dict[str, Any]:
        """The record's fields this role sees, in the layout's order, then the rest."""
        order = {name: (rule.position, name) for name, rule in self.rules.items()}
        names = sorted(data, key=lambda n: order.get(n, (1 << 30, n)))
        return {n: data[n] for n in names if self.access(n) != "hidden"}

    def check(
        self, changes: dict[str, Any], current: dict[str, Any] | None, *, key: str | None = None
    ) -> None:
        """Refuse an edit (``current`` None: a create) that the layout does not allow."""
        for name, value in changes.items():
            if current is not None and current.get(name) == value:
                continue  # unchanged (a form sends every field back)
            if self.access(name) != "edit":
                raise FieldAccessError(
                    f"the {self.role} role may not edit {name} on a {self.entity} card",
                    entity=self.entity,
                    key=key,
                    field=name,
                )
        after = {**(current or {}), **changes}
        for name in self.mandatory():
            if current is not None and name not in changes:
                continue  # an edit is judged on what it touches; old gaps don't block it
            if after.get(name) in (None, ""):
                raise ValidationError(
                    f"{name} is mandatory on a {self.entity} card",
                    entity=self.entity,
                    key=key,
                    field=name,
                )


def _check_names(entity: str, role: str) -> None:
    if entity not in CARD_ENTITIES:
        raise ValidationError(f"cards are customised for {', '.join(CARD_ENTITIES)} only")
    if role not in (*ROLES, EVERY_ROLE):
        raise ValidationError(f"unknown role {role!r}; known: {', '.join(ROLES)} or *")


def load_layout(store: HubStore, entity: str, role: str) -> CardLayout:
    """The layout in force for ``role``: its own rows over the rows saved for every role."""
    with store.transaction() as conn:
        return layout_in(conn, entity, role)


def layout_in(conn: Connection, entity: str, role: str) -> CardLayout:
    """``load_layout`` within a caller's transaction."""
    _check_names(entity, role)
    rows = people_store.card_rows(conn, entity, [EVERY_ROLE, role])
    rules: dict[str, FieldRule] = {}
    for row in sorted(rows, key=lambda r: r.role != EVERY_ROLE):
        rules[row.field] = FieldRule(row.field, row.access, bool(row.mandatory), row.position)
    return CardLayout(entity, role, rules)


def saved_rules(store: HubStore, entity: str, role: str) -> list[FieldRule]:
    """The rows saved for exactly this role (or ``*``), for the customisation form."""
    _check_names(entity, role)
    with store.transaction() as conn:
        rows = people_store.card_rows(conn, entity, [role])
    return [FieldRule(r.field, r.access, bool(r.mandatory), r.position) for r in rows]


def save_layout(store: HubStore, entity: str, role: str, rules: list[FieldRule]) -> None:
    """Replace the layout of ``role`` (or ``*``); an empty list resets it to the default."""
    _check_names(entity, role)
    spec = entity_spec(entity)
    seen: set[str] = set()
    for rule in rules:
        spec.spec_for(rule.field)  # unknown field: ConfigError naming it
        if rule.access not in ACCESS:
            raise ValidationError(
                f"access must be one of {', '.join(ACCESS)}", entity=entity, field=rule.field
            )
        if rule.mandatory and rule.access == "hidden":
            raise ValidationError(
                "a hidden field cannot be mandatory: nobody could fill it in",
                entity=entity,
                field=rule.field,
            )
        if rule.field in seen:
            raise ValidationError("field listed twice", entity=entity, field=rule.field)
        seen.add(rule.field)
    rows = [
        {"field": r.field, "access": r.access, "mandatory": r.mandatory, "position": r.position}
        for r in rules
    ]
    with store.transaction() as conn:
        people_store.replace_card(conn, entity, role, rows)


def hidden_fields(store: HubStore, role: str) -> Callable[[str, str | None], bool]:
    """Whether ``role``'s card layouts hide a field of an entity: the layouts are loaded
    once, for a list of rows of any entity to be asked about."""
    layouts = {entity: load_layout(store, entity, role) for entity in CARD_ENTITIES}

    def hidden(entity: str, name: str | None) -> bool:
        layout = layouts.get(entity)
        return bool(name) and layout is not None and layout.access(name or "") == "hidden"

    return hidden


def plan_for_role(store: HubStore, plan: Plan, role: str) -> Plan:
    """``plan`` (a dry run's or a run's) without the values of the fields ``role``'s card
    layouts hide: the record and what happens to it stay, those fields' rows go, and so
    does the reason of an error about one (it may quote the value)."""
    hidden = hidden_fields(store, role)
    changes = [
        replace(
            change,
            fields=tuple(f for f in change.fields if not hidden(change.entity, f[0])),
            reason=(
                hidden_reason(change.field)
                if hidden(change.entity, change.field)
                else change.reason
            ),
        )
        for change in plan.changes
    ]
    return replace(plan, changes=changes)


def hidden_reason(name: str) -> str:
    """What a role is told of an error about a field its card layout hides."""
    return f"{name}: a value was refused (the field is hidden from your role)"
