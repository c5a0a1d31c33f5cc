"""A Hypothesis state machine: random edits, deletes and deactivations on the hub and on
two SQL systems, random sync runs, random injected crashes between the steps of a run.

At every quiescent point (every system synced until a round writes nothing):
- all sides agree, and no record is duplicated on any side;
- every field holds the value the policy picks. For field-level last-writer-wins that is
  the newest write to the field. A system keeps one modification time per row, so its
  writes are seen per row: the machine lets a person make at most one write to a system
  row between two completed syncs of that system, which makes "the newest write" exact.
  For record-level last-writer-wins the newest write to the record decides its field;
- every value a person wrote and a sync later overwrote is in the journal or the
  conflict log.
Clocks are a ManualClock shared by everyone, never the wall clock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import (
    CHAR,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)

from accord.clock import ManualClock, to_iso
from accord.connectors.sql import SqlConnector
from accord.connectors.sql_tables import TableSpec
from accord.engine import SyncContext, sync
from accord.mapping.profile import ConflictPolicy, ConflictRule, EntityMap, FieldMap, Profile
from accord.service.records import create_record, delete_record, edit_record
from accord.store import HubStore, links, records
from accord.store.database import make_system_engine
from accord.store.schema import conflicts, journal
from accord.store.schema import records as records_table

SYSTEMS = ("a", "b")
FIELDS = {"name": "NAME", "notes": "NOTES", "address.postal.city": "CITY", "active": "ACTIVE"}
TEXT_VALUES = st.sampled_from(["x", "y", "z", "w", None])
STEPS = [
    "pull.batch.before_cursor",
    "pull.after_records",
    "push.before_apply",
    "push.after_apply",
    "push.before_position",
]
EXAMPLES = 200 if os.environ.get("CI") else 40

_TEMPLATE: dict[str, Path] = {}


class CrashError(Exception):
    """The run dies at a step."""


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _hub_template() -> Path:
    """Migrating a hub takes longer than a whole example: migrate once, copy per example."""
    if "hub" not in _TEMPLATE:
        path = Path(tempfile.mkdtemp()) / "hub.db"
        HubStore(f"sqlite:///{path}").close()
        _TEMPLATE["hub"] = path
    return _TEMPLATE["hub"]


def _system_table(metadata: MetaData) -> Table:
    return Table(
        "COMPANIES",
        metadata,
        Column("ID", Integer, primary_key=True, autoincrement=True),
        Column("CODE", String(20)),
        Column("NAME", String(40)),
        Column("NOTES", String(40)),
        Column("CITY", String(40)),
        Column("ACTIVE", CHAR(1)),
        Column("MODIFIED", DateTime),
        Column("MARKER", String(64)),
        # Keys are never reused, as with an ERP's identity column; without this SQLite
        # hands a deleted row's key to the next insert, which no engine can tell apart
        # from an edit if it happens before the deletion was seen.
        sqlite_autoincrement=True,
    )


def _profile(rule: ConflictRule) -> Profile:
    fields = [FieldMap("code", "CODE")] + [
        FieldMap(c, n, transform="yn" if c == "active" else "none") for c, n in FIELDS.items()
    ]
    return Profile(
        "test",
        [
            EntityMap(
                "company",
                "companies",
                fields,
                conflict=ConflictPolicy(rule=rule),
                on_system_delete="deactivate",
                on_hub_delete="deactivate",
            )
        ],
    )


@dataclass
class Write:
    at: str
    value: Any
    side: str


@dataclass
class Model:
    """What people did, by record code: the oracle's only memory."""

    writes: dict[tuple[str, str], list[Write]] = field(default_factory=dict)
    # system -> codes with a person's write not yet seen by a completed sync of it
    pending: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SYSTEMS})
    deleted: set[str] = field(default_factory=set)  # codes deleted anywhere
    # system -> codes created there and not yet seen by any completed sync of it
    unseen: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SYSTEMS})
    gone: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SYSTEMS})
    # system -> codes a run died creating there after the write may have happened: until a
    # run completes, the engine cannot know whether the row exists (see delete_in_system)
    in_doubt: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SYSTEMS})

    def wrote(self, code: str, name: str, value: Any, at: str, side: str) -> None:
        self.writes.setdefault((code, name), []).append(Write(at, value, side))


class SyncMachine(RuleBasedStateMachine):
    rule_kind: ConflictRule = "field_lww"

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        # Readings a little over a millisecond apart: stamps with sub-millisecond digits,
        # as the wall clock gives, so reads may leave our own writes out (``note_writes``).
        self.clock = ManualClock(step=timedelta(microseconds=1001))
        shutil.copy(_hub_template(), self.dir / "hub.db")
        self.store = HubStore(f"sqlite:///{self.dir / 'hub.db'}", create=False)
        self.profile = _profile(self.rule_kind)
        self.engines = {}
        self.tables = {}
        for name in SYSTEMS:
            engine = make_system_engine(f"sqlite:///{self.dir / f'{name}.db'}")
            metadata = MetaData()
            self.tables[name] = _system_table(metadata)
            metadata.create_all(engine)
            self.engines[name] = engine
        self.model = Model()
        self.connectors: dict[str, SqlConnector] = {}
        self.codes: list[str] = []
        self.next_code = 1

    def teardown(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        self.store.close()
        for engine in self.engines.values():
            engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------
    def _tick(self) -> datetime:
        self.clock.advance(timedelta(milliseconds=7))
        return self.clock.now()

    def _connector(self, name: str) -> SqlConnector:
        # One connector per system for the whole example: reflecting the table per run
        # would cost more than the run.
        if name not in self.connectors:
            self.connectors[name] = self._new_connector(name)
        return self.connectors[name]

    def _new_connector(self, name: str) -> SqlConnector:
        spec = TableSpec(
            "companies",
            "COMPANIES",
            "ID",
            ("CODE", *FIELDS.values()),
            modified="MODIFIED",
            marker="MARKER",
        )
        return SqlConnector(name, f"sqlite:///{self.dir / f'{name}.db'}", [spec], self.clock)

    def _hub_id(self, code: str) -> int | None:
        with self.store.transaction() as conn:
            row = conn.execute(
                select(records_table.c.id).where(records_table.c.code == code)
            ).first()
        return None if row is None else int(row.id)

    def _row(self, name: str, code: str) -> Any:
        table = self.tables[name]
        with self.engines[name].begin() as conn:
            rows = list(conn.execute(select(table).where(table.c["CODE"] == code)))
        assert len(rows) <= 1, f"{code} duplicated in {name}"
        return rows[0] if rows else None

    def _run(self, name: str, crash: str | None) -> bool:
        fired: list[str] = []

        def checkpoint(step: str) -> None:
            if step == crash and not fired:
                fired.append(step)
                raise CrashError(step)

        connector = self._connector(name)
        ctx = SyncContext(
            self.store,
            connector,
            self.profile,
            name,
            self.clock,
            batch_size=2,
            checkpoint=checkpoint,
        )
        try:
            sync(ctx)
        except CrashError:
            return False
        return True

    # -- rules ---------------------------------------------------------------------------
    @initialize()
    def start(self) -> None:
        pass

    @rule(values=st.tuples(TEXT_VALUES, TEXT_VALUES))
    def create_in_hub(self, values: tuple[Any, Any]) -> None:
        code = f"C{self.next_code}"
        self.next_code += 1
        at = self._tick()
        data = {"code": code, "name": values[0], "notes": values[1], "active": True}
        create_record(self.store, "company", data, clock=FixedClock(at))
        for name, value in data.items():
            if name != "code":
                self.model.wrote(code, name, value, to_iso(at), "hub")
        self.codes.append(code)

    @rule(system=st.sampled_from(SYSTEMS), values=st.tuples(TEXT_VALUES, TEXT_VALUES))
    def create_in_system(self, system: str, values: tuple[Any, Any]) -> None:
        code = f"C{self.next_code}"
        self.next_code += 1
        at = self._tick()
        row = {
            "CODE": code,
            "NAME": values[0],
            "NOTES": values[1],
            "ACTIVE": "Y",
            "MODIFIED": at.replace(tzinfo=None),
        }
        with self.engines[system].begin() as conn:
            conn.execute(insert(self.tables[system]).values(**row))
        for name, native in (("name", "NAME"), ("notes", "NOTES")):
            self.model.wrote(code, name, row[native], to_iso(at), system)
        self.model.wrote(code, "active", True, to_iso(at), system)
        self.model.pending[system].add(code)
        self.model.unseen[system].add(code)
        self.codes.append(code)

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), name=st.sampled_from(list(FIELDS)))
    def edit_in_hub(self, data: st.DataObject, name: str) -> None:
        code = data.draw(st.sampled_from(self.codes))
        hub_id = self._hub_id(code)
        if hub_id is None or code in self.model.deleted:
            return
        value = data.draw(st.booleans()) if name == "active" else data.draw(TEXT_VALUES)
        at = self._tick()
        if edit_record(self.store, hub_id, {name: value}, clock=FixedClock(at)):
            self.model.wrote(code, name, value, to_iso(at), "hub")

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), system=st.sampled_from(SYSTEMS), name=st.sampled_from(list(FIELDS)))
    def edit_in_system(self, data: st.DataObject, system: str, name: str) -> None:
        code = data.draw(st.sampled_from(self.codes))
        if code in self.model.pending[system] or code in self.model.deleted:
            return  # one write per row between completed syncs (see the module docstring)
        row = self._row(system, code)
        if row is None:
            return
        value = data.draw(st.booleans()) if name == "active" else data.draw(TEXT_VALUES)
        native_value = ("Y" if value else "N") if name == "active" else value
        if getattr(row, FIELDS[name]) == native_value:
            return  # saving an unchanged value is not a change
        at = self._tick()
        table = self.tables[system]
        with self.engines[system].begin() as conn:
            conn.execute(
                update(table)
                .where(table.c["CODE"] == code)
                .values({FIELDS[name]: native_value, "MODIFIED": at.replace(tzinfo=None)})
            )
        self.model.wrote(code, name, value, to_iso(at), system)
        self.model.pending[system].add(code)

    @precondition(lambda self: self.codes)
    @rule(data=st.data())
    def delete_in_hub(self, data: st.DataObject) -> None:
        code = data.draw(st.sampled_from(self.codes))
        hub_id = self._hub_id(code)
        if hub_id is None:
            return
        delete_record(self.store, hub_id, clock=FixedClock(self._tick()))
        self.model.deleted.add(code)

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), system=st.sampled_from(SYSTEMS))
    def delete_in_system(self, data: st.DataObject, system: str) -> None:
        code = data.draw(st.sampled_from(self.codes))
        table = self.tables[system]
        with self.engines[system].begin() as conn:
            done = conn.execute(table.delete().where(table.c["CODE"] == code)).rowcount
        if done and code in self.model.unseen[system]:
            self.codes.remove(code)  # created and deleted between syncs: nobody saw it
        elif done and code in self.model.in_doubt[system]:
            # Our create's outcome is unknown to the engine and the row is gone: it cannot
            # tell "never created" from "created, then deleted", and creates it (again)
            # rather than risk losing it. For the hub, the record was never deleted.
            pass
        elif done:
            self.model.deleted.add(code)
            self.model.gone[system].add(code)

    @rule(system=st.sampled_from(SYSTEMS), crash=st.one_of(st.none(), st.sampled_from(STEPS)))
    def run_sync(self, system: str, crash: str | None) -> None:
        self._tick()
        if self._run(system, crash):
            self.model.pending[system].clear()
            self.model.unseen[system].clear()
            self.model.in_doubt[system].clear()
        elif crash in ("push.after_apply", "push.before_position"):
            self.model.in_doubt[system] |= self._not_linked(system)

    def _not_linked(self, system: str) -> set[str]:
        with self.store.transaction() as conn:
            linked = {hub_id for _, hub_id in links.external_ids(conn, system, "company")}
        return {code for code in self.codes if self._hub_id(code) not in linked}

    # -- quiescence and the checks --------------------------------------------------------
    @invariant()
    def settled_sides_agree_and_policy_holds(self) -> None:
        # Checking at every step would settle every step; settling every few steps still
        # reaches quiescence with unsynced edits, crashes and conflicts in between.
        if self.clock.now().microsecond // 1000 % 4:
            return
        self.settle()
        self.check()

    def settle(self) -> None:
        for _ in range(4):
            before = self._journal_size()
            for name in SYSTEMS:
                self._tick()
                assert self._run(name, None)
            for name in SYSTEMS:
                self.model.pending[name].clear()
                self.model.unseen[name].clear()
                self.model.in_doubt[name].clear()
            if self._journal_size() == before and self._quiet():
                return
        raise AssertionError("no quiescence after 4 rounds of syncs: the sides ping-pong")

    def _quiet(self) -> bool:
        # A round that wrote nothing to the hub may still have written to a system.
        for name in SYSTEMS:
            connector = self._connector(name)
            ctx = SyncContext(self.store, connector, self.profile, name, self.clock, dry_run=True)
            plan = sync(ctx)
            if plan.writes:
                return False
        return True

    def _journal_size(self) -> int:
        with self.store.transaction() as conn:
            return len(list(conn.execute(select(journal.c.seq))))

    def check(self) -> None:
        for code in self.codes:
            hub_id = self._hub_id(code)
            assert hub_id is not None, f"{code} lost from the hub"
            with self.store.transaction() as conn:
                hub = records.get(conn, hub_id)
                linked = {
                    name: links.by_hub(conn, name, "company", [hub_id]).get(hub_id)
                    for name in SYSTEMS
                }
            assert hub is not None
            emap = self.profile.entities[0]
            for name in SYSTEMS:
                row = self._row(name, code)
                link = linked[name]
                if code in self.model.gone[name]:
                    assert row is None, f"{code} re-created in {name} after it was deleted there"
                    continue
                if (
                    row is None
                    and link is None
                    and (hub.deleted or hub.data.get("active") is False)
                ):
                    continue  # deleted or inactive before it reached this system: not created
                assert row is not None, f"{code} missing from {name}"
                assert link is not None and link.external_id == str(row.ID)
                if hub.deleted:
                    assert row.ACTIVE == "N", f"{code} deleted in the hub but active in {name}"
                    continue
                expected, _ = emap.outbound({k: hub.data.get(k) for k in FIELDS})
                actual = {n: getattr(row, n) for n in FIELDS.values()}
                assert actual == expected, f"{code}: {name} {actual} != hub {expected}"
            if code not in self.model.deleted:
                self._check_policy(code, hub.data)
            self._check_journal(code, hub_id)

    def _check_policy(self, code: str, data: dict[str, Any]) -> None:
        newest = {
            name: max(self.model.writes.get((code, name), []), key=lambda w: w.at, default=None)
            for name in FIELDS
        }
        if self.rule_kind == "field_lww":
            for name, write in newest.items():
                if write is not None:
                    assert data.get(name) == write.value, (
                        f"{code}.{name}: {data.get(name)!r}, newest write {write};"
                        f" all: {self.model.writes[(code, name)]}; history: {self._history(code)}"
                    )
            return
        last = max((w for w in newest.values() if w is not None), key=lambda w: w.at, default=None)
        for name, write in newest.items():
            if write is not None and write is last:
                assert data.get(name) == write.value, f"{code}.{name}: newest record write {write}"

    def _history(self, code: str) -> list[Any]:
        hub_id = self._hub_id(code)
        with self.store.transaction() as conn:
            rows = conn.execute(
                select(journal).where(journal.c.record_id == hub_id).order_by(journal.c.seq)
            )
            entries = [(r.at, r.system, r.kind, r.changes) for r in rows]
            found = conn.execute(select(conflicts).where(conflicts.c.record_id == hub_id))
            entries += [
                ("conflict", c.system, c.field, c.hub_value, c.system_value, c.winner, c.reason)
                for c in found
            ]
        return entries

    def _check_journal(self, code: str, hub_id: int) -> None:
        with self.store.transaction() as conn:
            seen: dict[str, set[Any]] = {}
            for row in conn.execute(select(journal.c.changes).where(journal.c.record_id == hub_id)):
                for name, (old, new) in row.changes.items():
                    seen.setdefault(name, set()).update([old, new])
            for row in conn.execute(select(conflicts).where(conflicts.c.record_id == hub_id)):
                seen.setdefault(row.field, set()).update([row.hub_value, row.system_value])
        if code in self.model.deleted:
            return
        for name in FIELDS:
            for write in self.model.writes.get((code, name), []):
                assert write.value in seen.get(name, set()) | {None}, (
                    f"{code}.{name}: {write} overwritten without a trace"
                )


class RecordLevelMachine(SyncMachine):
    rule_kind = "record_lww"


TEXT_FIELDS = ("name", "notes", "address.postal.city")


class RecordVersionMachine(RecordLevelMachine):
    """Record-level last-writer-wins against the full oracle: the newest record version.

    People here save whole records: every edit gives every text field a value never used
    before. Two edits not yet synced with each other then differ on every field, so the
    policy must keep the whole newer version; an edit synced before the next one is
    simply replaced by it. Either way, at quiescence every text field holds what the
    record's newest version wrote. (Single-field edits, as in the machines above, let a
    three-way merge combine two versions, which is right but has no such simple oracle.)
    """

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    # Whole-record edits replace the single-field ones (no rule decorator: not rules).
    def edit_in_hub(self, data: st.DataObject, name: str) -> None:
        raise AssertionError("not a rule of this machine")

    def edit_in_system(self, data: st.DataObject, system: str, name: str) -> None:
        raise AssertionError("not a rule of this machine")

    def _new_version(self) -> dict[str, str]:
        self.version += 1
        return {name: f"{name[:4]}{self.version}" for name in TEXT_FIELDS}

    @precondition(lambda self: self.codes)
    @rule(data=st.data())
    def save_record_in_hub(self, data: st.DataObject) -> None:
        code = data.draw(st.sampled_from(self.codes))
        hub_id = self._hub_id(code)
        if hub_id is None or code in self.model.deleted:
            return
        values = self._new_version()
        at = self._tick()
        if edit_record(self.store, hub_id, dict(values), clock=FixedClock(at)):
            for name, value in values.items():
                self.model.wrote(code, name, value, to_iso(at), "hub")

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), system=st.sampled_from(SYSTEMS))
    def save_record_in_system(self, data: st.DataObject, system: str) -> None:
        code = data.draw(st.sampled_from(self.codes))
        if code in self.model.pending[system] or code in self.model.deleted:
            return  # one write per row between completed syncs (see the module docstring)
        if self._row(system, code) is None:
            return
        values = self._new_version()
        at = self._tick()
        table = self.tables[system]
        native = {FIELDS[name]: value for name, value in values.items()}
        with self.engines[system].begin() as conn:
            conn.execute(
                update(table)
                .where(table.c["CODE"] == code)
                .values({**native, "MODIFIED": at.replace(tzinfo=None)})
            )
        for name, value in values.items():
            self.model.wrote(code, name, value, to_iso(at), system)
        self.model.pending[system].add(code)

    def _check_policy(self, code: str, data: dict[str, Any]) -> None:
        written = [w for name in TEXT_FIELDS for w in self.model.writes.get((code, name), [])]
        if not written:
            return
        newest = max(written, key=lambda w: w.at)
        for name in TEXT_FIELDS:
            version = [w for w in self.model.writes.get((code, name), []) if w.at == newest.at]
            expected = version[0].value if version else None  # a create leaves the city out
            if not version and any(
                w.at < newest.at for w in self.model.writes.get((code, name), [])
            ):
                raise AssertionError(f"{code}: the newest version {newest} left {name} out")
            assert data.get(name) == expected, (
                f"{code}.{name}: {data.get(name)!r}, newest record version {newest};"
                f" history: {self._history(code)}"
            )


_PHASES = (
    None
    if os.environ.get("CI") or not os.environ.get("ACCORD_NO_SHRINK")
    else [Phase.explicit, Phase.reuse, Phase.generate]
)
_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    phases=_PHASES or tuple(Phase),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.slow
def test_field_level_lww_random_edits_deletes_syncs_and_crashes() -> None:
    run_state_machine_as_test(SyncMachine, settings=_SETTINGS)


@pytest.mark.slow
def test_record_level_lww_random_edits_deletes_syncs_and_crashes() -> None:
    run_state_machine_as_test(RecordLevelMachine, settings=_SETTINGS)


@pytest.mark.slow
def test_record_level_lww_keeps_the_newest_record_version() -> None:
    run_state_machine_as_test(RecordVersionMachine, settings=_SETTINGS)
