"""Pull: read a system's changes since its cursor and merge them into the hub.

Per batch, in one transaction: map to canonical, link (existing link, or match before
create), reconcile each linked record against its base, write hub records, journal,
bases, conflicts and errors, then move the cursor. A crash loses at most the batch in
flight, which the next run reads again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from accord.connectors.base import ExternalRecord
from accord.engine.context import SettledRange, SyncContext
from accord.engine.plan import PlannedChange
from accord.engine.push import outbound_names, unsent
from accord.engine.reconcile import reconcile
from accord.engine.refs import collect, hub_ids_for
from accord.errors import TransientError, ValidationError
from accord.mapping.profile import EntityMap
from accord.model.entities import entity_spec
from accord.model.matching import CODE_MATCHED, match_key, same_name
from accord.store import bookkeeping, counters, links, records
from accord.store.records import StaleRecordError
from accord.store.types import (
    ALL_FIELDS,
    HUB,
    ConflictEntry,
    ErrorEntry,
    HubRecord,
    Link,
    RecordWrite,
)

STALE_RETRIES = 3


@dataclass
class _Incoming:
    record: ExternalRecord
    values: dict[str, Any]
    problems: list[ValidationError]
    match: str | None = None  # the match key, once candidates were looked up
    unresolved: bool = False  # a reference (its company) is not linked to the hub

    def copy(self) -> _Incoming:
        return _Incoming(self.record, dict(self.values), list(self.problems), None, self.unresolved)


def _once_per_key(mapped: list[_Incoming]) -> list[_Incoming]:
    """One record per key: a system can return a key twice in one read (two Exo link rows
    for the same contact and account). The later is taken, and the record says why, so
    the rest of the batch goes on instead of failing on the hub's unique links."""
    counts = Counter(item.record.key for item in mapped)
    if len(counts) == len(mapped):
        return mapped
    kept = list({item.record.key: item for item in mapped}.values())  # the last of each
    for item in kept:
        if (times := counts[item.record.key]) > 1:
            item.problems.append(
                ValidationError(
                    f"the system returned this record {times} times in one read (duplicate"
                    " rows, e.g. two link rows for one contact and account); the last was taken"
                )
            )
    return kept


class Pull:
    def __init__(self, ctx: SyncContext, emap: EntityMap) -> None:
        self.ctx = ctx
        self.emap = emap
        self.entity = emap.entity
        self._written: SettledRange | None = None  # the batch being written, if agreed
        self._still_held: list[tuple[int, str, Any, Any]] = []  # the batch's, see _merge
        self._released: list[tuple[int, str]] = []  # held fields agreed again, see _merge
        self._superseded: list[tuple[int, str]] = []  # held with a deleted record, relinked
        self._numbered_upto = 0  # the hub's last account number, see _provisional_code

    # -- driving -----------------------------------------------------------------------
    def run(self) -> None:
        ctx = self.ctx
        with ctx.reading() as conn:
            cursor, _ = bookkeeping.get_cursor(conn, ctx.system, self.entity)
            if ctx.full_read:
                cursor = ctx.connector.full_read_cursor(self.emap.source, cursor)
            retry_keys = [
                row.external_id
                for row in bookkeeping.open_errors(conn, ctx.system, self.entity, "pull")
                if row.external_id
            ]
        # Read again below when they are in the read's window too (or a full read): as
        # they were, they are not processed twice, nor their errors counted twice.
        retried: dict[str, ExternalRecord] = {}
        if retry_keys:
            found = ctx.connector.read_by_keys(self.emap.source, sorted(set(retry_keys)))
            retried = {r.key: r for r in found}
            self._process_batch(found, None)
        done = 0
        for batch in ctx.connector.read_changes(self.emap.source, cursor, ctx.batch_size):
            records = batch.records
            if retried:
                records = [r for r in records if retried.get(r.key) != r]
            if batch.listed_whole:
                records = [*records, *self._unlisted(batch.listed_whole)]
            self._process_batch(records, batch.cursor)
            done += len(batch.records)
            ctx.report(self.entity, "pull", done)
        # Even with the "ignore" policy the link is retired, so nothing is pushed to a
        # record that no longer exists.
        self._detect_deletions()

    def _process_batch(self, batch: Sequence[ExternalRecord], cursor: str | None) -> None:
        # What needs no write lock is done first: other runs may write the hub meanwhile.
        with self.ctx.reading() as conn:
            batch = self._drop_unchanged(conn, batch)
        mapped = _once_per_key(self._inbound(batch))
        for attempt in range(STALE_RETRIES):
            self._written = None
            try:
                with self.ctx.transaction() as conn:
                    # A copy per attempt: resolving references rewrites the values.
                    self._process(conn, [i.copy() for i in mapped])
                    self.ctx.step("pull.batch.before_cursor")
                    if cursor is not None:
                        bookkeeping.set_cursor(
                            conn, self.ctx.system, self.entity, pull_cursor=cursor
                        )
                if self._written is not None:
                    self.ctx.settled.setdefault(self.entity, []).append(self._written)
                return
            except StaleRecordError:
                if attempt == STALE_RETRIES - 1:
                    raise TransientError(
                        "hub records kept changing while the sync wrote them; try again",
                        system=self.ctx.system,
                        entity=self.entity,
                    ) from None

    def _unlisted(self, listed: Mapping[str, frozenset[str]]) -> list[ExternalRecord]:
        """Linked records of groups the read listed whole that it did not list, as the
        system has them now: read by key, so only a confirmed deletion counts as one."""
        ctx = self.ctx
        with ctx.reading() as conn:
            linked = links.external_ids_ending(conn, ctx.system, self.entity, listed)
        missing = sorted(
            key
            for key in linked
            if any(key.endswith(suffix) and key not in keys for suffix, keys in listed.items())
        )
        if not missing:
            return []
        return ctx.connector.read_by_keys(self.emap.source, missing)

    def _detect_deletions(self) -> None:
        ctx = self.ctx
        if not ctx.connector.capabilities(self.emap.source).list_keys:
            return
        with ctx.reading() as conn:
            linked = links.count_active(conn, ctx.system, self.entity)
        # When every record the pull sees gets linked (creates are automatic), as many
        # records as live links means none was deleted: skip reading every key.
        auto = self.emap.create_in_hub == "auto"
        if auto and ctx.connector.count(self.emap.source) == linked:
            return
        present = set(ctx.connector.list_keys(self.emap.source))
        with ctx.reading() as conn:
            live = {key for key, _ in links.external_ids(conn, ctx.system, self.entity)}
            unlinked = sorted(present - live) if auto else []
            # Those with an open error were retried at the start of the run already.
            failing = bookkeeping.erring_keys(conn, ctx.system, self.entity, "pull", unlinked)
        gone = [key for key in live if key not in present]
        for start in range(0, len(gone), ctx.batch_size):
            chunk = gone[start : start + ctx.batch_size]
            self._process_batch([ExternalRecord(key, {}, deleted=True) for key in chunk], None)
        if auto:
            # Records the change cursor cannot see: a row written with an old modified time
            # (a restore, an import), or a new link row of a fan-out whose child row did not
            # change (an Exo contact linked to one more customer). Read them by key.
            unseen = [key for key in unlinked if key not in failing]
            for start in range(0, len(unseen), ctx.batch_size):
                chunk = unseen[start : start + ctx.batch_size]
                self._process_batch(ctx.connector.read_by_keys(self.emap.source, chunk), None)

    # -- one batch ---------------------------------------------------------------------
    def _process(self, conn: Connection, incoming: list[_Incoming]) -> None:
        ctx = self.ctx
        batch = [i.record for i in incoming]
        known = links.by_external(conn, ctx.system, self.entity, [r.key for r in batch])
        reused = [
            r.key
            for r in batch
            if not r.deleted and r.key in known and known[r.key].state == "tombstone"
        ]
        if reused:
            # A key seen again after its record was deleted names a new record.
            links.release_external_ids(conn, ctx.system, self.entity, reused)
            for key in reused:
                del known[key]
        self._resolve_refs(conn, incoming)
        candidates = self._match_candidates(
            conn,
            [
                i
                for i in incoming
                if i.record.key not in known or known[i.record.key].state != "active"
            ],
        )
        # Creates in flight to this system, by marker: a record carrying one is ours.
        markers = [r.marker for r in batch if r.marker and r.key not in known]
        pending = links.pending_by_markers(conn, ctx.system, self.entity, markers)
        pending_by_hub = {p.hub_id: p for p in pending.values()}
        hub_ids = (
            {link.hub_id for link in known.values()}
            | {i for ids in candidates.values() for i in ids}
            | set(pending_by_hub)
        )
        hub = records.get_many(conn, hub_ids)
        linked_here = links.by_hub(
            conn, ctx.system, self.entity, [i for ids in candidates.values() for i in ids]
        )
        writes: list[RecordWrite] = []
        changed_links: list[Link] = []
        conflicts: list[ConflictEntry] = []
        self._still_held = []
        self._released, self._superseded = [], []
        errors: list[ErrorEntry] = []
        claimed: set[int] = set()
        to_create: list[_Incoming] = []
        done_keys: list[str] = []
        keep_errors: set[tuple[Any, Any]] = set()
        for item in incoming:
            rec = item.record
            for problem in item.problems:
                errors.append(self._error(rec.key, problem.field, str(problem.message)))
                keep_errors.add((rec.key, problem.field))
            done_keys.append(rec.key)
            link = known.get(rec.key)
            if rec.deleted:
                if link is not None and link.state == "active":
                    self._system_deleted(
                        link, hub.get(link.hub_id), writes, changed_links, conflicts
                    )
                continue
            if link is not None and link.state == "active":
                self._merge(item, link, hub[link.hub_id], writes, changed_links, conflicts, False)
                continue
            target = self._by_marker(rec, pending, claimed)
            if target is None:
                target = self._pick_candidate(item, candidates, linked_here, claimed, hub)
            if target is not None:
                claimed.add(target)
                waiting = pending_by_hub.get(target) or linked_here.get(target)
                if waiting is not None and waiting.state == "tombstone":
                    # What was agreed with the deleted record says nothing of this one,
                    # nor do the conflicts held with it.
                    self._superseded.extend((target, name) for name in waiting.held)
                    waiting.base, waiting.base_version, waiting.held = {}, None, []
                    waiting.sending = None
                new_link = waiting or Link(None, ctx.system, self.entity, rec.key, target)
                new_link.external_id, new_link.state, new_link.marker = rec.key, "active", None
                first = waiting is None or not waiting.base
                self.ctx.plan.add(
                    PlannedChange("hub", self.entity, "link", self._label(hub[target].data))
                )
                self._merge(item, new_link, hub[target], writes, changed_links, conflicts, first)
                continue
            if self.emap.create_in_hub == "auto":
                to_create.append(item)
        ids = records.new_ids(conn, len(to_create))  # one allocation for the whole batch
        for hub_id, item in zip(ids, to_create, strict=True):
            self._create(hub_id, item, writes, changed_links)
        self._write(conn, writes, changed_links, conflicts, errors)
        bookkeeping.resolve_errors(
            conn,
            ctx.system,
            self.entity,
            "pull",
            external_ids=done_keys,
            at=ctx.now(),
            keep=keep_errors,
        )

    def _drop_unchanged(
        self, conn: Connection, batch: Sequence[ExternalRecord]
    ) -> Sequence[ExternalRecord]:
        """Records at the version their base was read at: our own writes and re-reads.

        Checked on a narrow query first, so re-reading many unchanged records (an overlap
        window right after a bulk push) never decodes their bases.
        """
        versions = links.versions(conn, self.ctx.system, self.entity, [r.key for r in batch])
        if not versions:
            return batch
        erring = (
            {
                row.external_id
                for row in bookkeeping.open_errors(conn, self.ctx.system, self.entity, "pull")
            }
            if any(versions.get(r.key) == r.version for r in batch)
            else set()
        )
        return [
            r
            for r in batch
            if r.deleted or r.version is None or versions.get(r.key) != r.version or r.key in erring
        ]

    def _inbound(self, batch: Sequence[ExternalRecord]) -> list[_Incoming]:
        mapped = []
        for rec in batch:
            if rec.deleted:
                mapped.append(_Incoming(rec, {}, []))
                continue
            values, problems = self.emap.inbound(rec.values)
            mapped.append(_Incoming(rec, values, problems))
        return mapped

    def _resolve_refs(self, conn: Connection, mapped: list[_Incoming]) -> None:
        """System keys in reference fields -> hub ids, through this system's links."""
        for field, ref_entity in self.emap.ref_fields.items():
            keys = collect((m.values for m in mapped), field)
            resolved = hub_ids_for(conn, self.ctx.system, ref_entity, keys)
            for m in mapped:
                key = m.values.get(field)
                if key is None:
                    continue
                if key in resolved:
                    m.values[field] = resolved[key]
                else:
                    del m.values[field]  # never blank a reference we cannot resolve
                    m.unresolved = True
                    m.problems.append(
                        ValidationError(f"{ref_entity} {key} is not linked to the hub", field=field)
                    )

    def _match_candidates(
        self, conn: Connection, unlinked: list[_Incoming]
    ) -> dict[str, list[int]]:
        if not self.emap.match or not unlinked:
            return {}
        for item in unlinked:
            # A contact of a customer the hub does not have is nobody's namesake here:
            # without its company, the key would match people of no company.
            item.match = None if item.unresolved else match_key(self.entity, item.values)
        if self._owner_of_codes():
            self._numbered_upto = counters.current(conn, counters.ACCOUNT_NUMBERS)
        return records.find_by_match_keys(conn, self.entity, [i.match for i in unlinked if i.match])

    @staticmethod
    def _by_marker(rec: ExternalRecord, pending: dict[str, Link], claimed: set[int]) -> int | None:
        link = pending.get(rec.marker) if rec.marker else None
        if link is None or link.hub_id in claimed:
            return None
        return link.hub_id

    def _pick_candidate(
        self,
        item: _Incoming,
        candidates: dict[str, list[int]],
        linked_here: dict[int, Link],
        claimed: set[int],
        hub: dict[int, HubRecord],
    ) -> int | None:
        for hub_id in candidates.get(item.match or "", []):
            existing = linked_here.get(hub_id)
            if hub_id in claimed or (existing is not None and existing.state == "active"):
                continue
            if existing is not None and existing.state == "tombstone" and hub[hub_id].deleted:
                continue  # its system record is gone and the hub deleted it too
            # A retired link (its system record was deleted, the hub record kept, S000-06)
            # is taken over: the same person entered again there is this record (S000-08).
            if (
                existing is not None
                and item.record.marker
                and existing.marker != item.record.marker
            ):
                continue  # made by another create of ours: not this record
            if hub[hub_id].deleted and existing is None:
                continue  # a deleted record is matched only to finish its own create
            if self._provisional_code(hub[hub_id]) and not same_name(item.values, hub[hub_id].data):
                continue  # the hub's number, which the system gave to another account
            return hub_id
        return None

    def _owner_of_codes(self) -> bool:
        """Whether this system numbers its own accounts (owns_codes: the code is read
        from it, never written) and codes are what records match on."""
        mapped = self.emap.field("code")
        return self.entity in CODE_MATCHED and mapped is not None and not mapped.outbound

    def _provisional_code(self, record: HubRecord) -> bool:
        """Whether ``record``'s code is a number of the hub's own sequence, given in the
        hub, and this system numbers its own accounts.

        The hub numbers a new account (S002-01) while the owner numbers its own: both may
        hand out the same next number between two syncs. Such a number alone does not
        make two records one; their names must agree too. Codes typed in the hub outside
        that range (an account set up in both places, S001-11) match as they are. The
        owner numbers the hub's account when it is created there (see ``Push``).
        """
        code = str(record.data.get("code") or "")
        if not self._owner_of_codes() or not (code.isascii() and code.isdigit()):
            return False
        source = record.field_source("code")
        return source is not None and source[0] == HUB and int(code) <= self._numbered_upto

    # -- decisions -----------------------------------------------------------------------
    def _merge(
        self,
        item: _Incoming,
        link: Link,
        current: HubRecord,
        writes: list[RecordWrite],
        changed_links: list[Link],
        conflicts: list[ConflictEntry],
        first_link: bool,
    ) -> None:
        ctx, rec = self.ctx, item.record
        system_time = rec.modified_at
        if link.sending:
            # A push wrote these and died before saving the base: where the system still
            # holds what we sent, that is the agreed value, not somebody's edit. A field
            # the read does not bring (dropped as invalid, unresolved, outbound only) is
            # not known to have arrived: the push sends it again.
            agreed = {
                k: v for k, v in link.sending.items() if k in item.values and item.values[k] == v
            }
            link.base = {**link.base, **agreed}
            link.sending = None
            first_link = False
        decision = reconcile(
            base=link.base,
            hub=current.data,
            system=item.values,
            policy=self.emap.conflict,
            system_name=ctx.system,
            hub_times={f: current.field_time(f) for f in item.values},
            hub_record_time=current.changed_at,
            system_time=system_time,
            held=set(link.held),
            first_link=first_link,
            hub_origins=_origins(current, item.values),
        )
        for c in decision.conflicts:
            conflicts.append(
                ConflictEntry(
                    ctx.system,
                    self.entity,
                    current.id,
                    rec.key,
                    c.field,
                    c.base,
                    c.hub,
                    c.system,
                    c.hub_time,
                    c.system_time,
                    "link" if first_link else self.emap.conflict.rule,
                    c.winner,
                    c.reason,
                )
            )
            self.ctx.plan.add(
                PlannedChange(
                    "hub",
                    self.entity,
                    "conflict",
                    self._label(current.data),
                    ((c.field, c.hub, c.system),),
                    c.reason,
                )
            )
        system_edited = any(item.values.get(f) != link.base.get(f) for f in item.values)
        link.base = {**link.base, **decision.base}
        link.base_version = rec.version
        link.held = sorted((set(link.held) | decision.hold) - decision.release)
        for name, (hub_value, system_value) in decision.still_held.items():
            self._still_held.append((current.id, name, hub_value, system_value))
        # A held field the two sides agree on again needs nobody's decision: its open
        # conflict is closed, so a later resolution cannot write a value gone stale.
        self._released.extend((current.id, name) for name in sorted(decision.release))
        changed_links.append(link)
        if current.deleted:
            if system_edited:
                # An edit on one side against a delete on the other: the edit is kept.
                writes.append(self._update(current, decision.take, system_time, restore=True))
                conflicts.append(
                    ConflictEntry(
                        ctx.system,
                        self.entity,
                        current.id,
                        rec.key,
                        "deleted",
                        True,
                        True,
                        False,
                        current.changed_at,
                        system_time,
                        "delete",
                        "system",
                        f"edited in {ctx.system} after it was deleted in the hub: the edit is kept",
                    )
                )
        elif decision.take:
            writes.append(self._update(current, decision.take, system_time))

    def _update(
        self, current: HubRecord, take: dict[str, Any], origin: str | None, *, restore: bool = False
    ) -> RecordWrite:
        ctx = self.ctx
        origin_time = origin or ctx.now()
        data = {**current.data, **take}
        provenance = dict(current.provenance)
        for name in take:
            provenance[name] = [ctx.system, ctx.run_id, origin_time]
        changes = {name: [current.data.get(name), value] for name, value in take.items()}
        if restore:
            action = "restore"
        elif take.get("active") is False and current.data.get("active") is not False:
            action = "deactivate"
        else:
            action = "update"
        if restore:
            changes["deleted"] = [True, False]
        self.ctx.plan.add(
            PlannedChange(
                "hub",
                self.entity,
                action,
                self._label(data),
                tuple((n, o, v) for n, (o, v) in changes.items()),
                "edited in the system after it was deleted in the hub: the edit is kept"
                if restore
                else "",
            )
        )
        return RecordWrite(
            current.id,
            self.entity,
            "restore" if restore else "update",
            changes,
            ctx.system,
            max(origin_time, current.changed_at),
            data,
            provenance,
            deleted=False,
            expected_seq=current.seq,
        )

    def _create(
        self,
        hub_id: int,
        item: _Incoming,
        writes: list[RecordWrite],
        changed_links: list[Link],
    ) -> None:
        ctx, rec = self.ctx, item.record
        origin = rec.modified_at or ctx.now()
        data = {**self.emap.hub_defaults, **item.values}
        provenance = {ALL_FIELDS: [ctx.system, ctx.run_id, origin]}
        changes = {name: [None, value] for name, value in data.items() if value is not None}
        writes.append(
            RecordWrite(
                hub_id, self.entity, "create", changes, ctx.system, origin, data, provenance
            )
        )
        changed_links.append(
            Link(
                None,
                ctx.system,
                self.entity,
                rec.key,
                hub_id,
                "active",
                dict(item.values),
                rec.version,
            )
        )
        if self.ctx.plan.count_only("hub", self.entity, "create"):
            return
        self.ctx.plan.add(
            PlannedChange(
                "hub",
                self.entity,
                "create",
                self._label(data),
                tuple((n, None, v) for n, (_, v) in changes.items()),
            )
        )

    def _system_deleted(
        self,
        link: Link,
        current: HubRecord | None,
        writes: list[RecordWrite],
        changed_links: list[Link],
        conflicts: list[ConflictEntry],
    ) -> None:
        ctx = self.ctx
        link.state = "tombstone"
        changed_links.append(link)
        policy = self.emap.on_system_delete
        if current is None or current.deleted:
            return
        if policy == "ignore":
            reason = f"deleted in {ctx.system}: the hub keeps its record and sends it there no more"
            ctx.plan.add(
                PlannedChange(
                    "hub", self.entity, "unlink", self._label(current.data), reason=reason
                )
            )
            return
        # Edits the system never agreed to: of its fields, and of fields it left empty
        # (a record without the field has none in the base).
        unagreed = [n for n in outbound_names(self.emap) if n not in link.base]
        edited = [f for f in link.base if current.data.get(f) != link.base.get(f)]
        edited += list(unsent(current.data, link, unagreed))
        if edited:
            for name in edited:
                conflicts.append(
                    ConflictEntry(
                        ctx.system,
                        self.entity,
                        current.id,
                        link.external_id,
                        name,
                        link.base.get(name),
                        current.data.get(name),
                        None,
                        current.field_time(name),
                        None,
                        "delete",
                        "hub",
                        f"deleted in {ctx.system} but edited in the hub: the edit is kept",
                    )
                )
            self.ctx.plan.add(
                PlannedChange(
                    "hub",
                    self.entity,
                    "conflict",
                    self._label(current.data),
                    reason=f"deleted in {ctx.system}, edited in hub: kept",
                )
            )
            return
        if policy == "deactivate":
            if current.data.get("active") is False:
                return
            writes.append(self._update(current, {"active": False}, None))
        else:
            writes.append(
                RecordWrite(
                    current.id,
                    self.entity,
                    "delete",
                    {"deleted": [False, True]},
                    ctx.system,
                    ctx.now(),
                    current.data,
                    current.provenance,
                    deleted=True,
                    expected_seq=current.seq,
                )
            )
            self.ctx.plan.add(
                PlannedChange("hub", self.entity, "delete", self._label(current.data))
            )

    # -- writing -------------------------------------------------------------------------
    def _write(
        self,
        conn: Connection,
        writes: list[RecordWrite],
        changed_links: list[Link],
        conflicts: list[ConflictEntry],
        errors: list[ErrorEntry],
    ) -> None:
        ctx, at = self.ctx, self.ctx.now()
        demoted: list[RecordWrite] = []
        seqs = records.apply_writes(conn, writes, ctx.run_id, at, demoted=demoted)
        for write in demoted:  # the plan (a dry run's too) shows the flags taken
            ctx.plan.add(
                PlannedChange(
                    "hub",
                    write.entity,
                    "update",
                    entity_spec(write.entity).label(write.new_data),
                    tuple((name, old, new) for name, (old, new) in write.changes.items()),
                    "another contact of its company is made the primary one",
                )
            )
        ctx.step("pull.after_records")
        links.save(conn, changed_links, at)
        if seqs:
            self._note_settled(writes, seqs, changed_links)
        # Closed before this batch's conflicts are added: the new record's are its own.
        bookkeeping.settle_conflicts(
            conn,
            ctx.system,
            self.entity,
            self._superseded,
            at,
            winner=bookkeeping.SUPERSEDED,
            note=bookkeeping.SUPERSEDED_NOTE,
        )
        bookkeeping.add_conflicts(conn, conflicts, ctx.run_id, at)
        bookkeeping.refresh_open_conflicts(conn, ctx.system, self.entity, self._still_held)
        bookkeeping.settle_conflicts(conn, ctx.system, self.entity, self._released, at)
        bookkeeping.add_errors(conn, errors, ctx.run_id, at)
        for entry in errors:
            ctx.plan.add(
                PlannedChange(
                    "hub",
                    self.entity,
                    "error",
                    entry.external_id or "",
                    reason=entry.message,
                    field=entry.field or "",
                )
            )

    def _note_settled(
        self, writes: list[RecordWrite], seqs: list[int], changed_links: list[Link]
    ) -> None:
        """Tell the push which of these writes left nothing to send back to the system."""
        by_hub = {link.hub_id: link for link in changed_links}
        names = outbound_names(self.emap)
        unsettled = []
        for seq, write in zip(seqs, writes, strict=True):
            link = by_hub.get(write.record_id)
            if (
                write.deleted
                or link is None
                or link.state != "active"
                or unsent(write.new_data, link, names)
            ):
                unsettled.append(seq)
        block = SettledRange(min(seqs), max(seqs), tuple(unsettled))
        if block.hi - block.lo + 1 == len(seqs):  # one contiguous block, as allocated
            self._written = block  # kept once the transaction commits

    def _error(self, key: str, field: str | None, message: str) -> ErrorEntry:
        return ErrorEntry(
            self.ctx.system, self.entity, "pull", message, external_id=key, field=field
        )

    def _label(self, data: dict[str, Any]) -> str:
        return entity_spec(self.entity).label(data)


def _origins(current: HubRecord, names: Mapping[str, Any]) -> dict[str, str]:
    """Per field, the system the hub's value came from (for reconcile's tie-break)."""
    found: dict[str, str] = {}
    for name in names:
        entry = current.field_source(name)
        if entry:
            found[name] = str(entry[0])
    return found
