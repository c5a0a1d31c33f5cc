"""Push: send hub changes made since the system's journal position to the system.

Only mapped outbound fields that differ from the base are sent; creates and
deactivations follow the profile's policies. The base moves only after the system
confirmed the write, and takes the version it returned, so the next pull does not see
our own write as a user's change (no echo). A create first commits a pending link with
an idempotency marker, so a crash between the write and its bookkeeping never duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from accord.connectors.base import Operation, OperationResult
from accord.engine.context import SyncContext
from accord.engine.plan import PlannedChange
from accord.engine.refs import external_keys_for
from accord.errors import ConnectorError
from accord.ids import new_marker
from accord.mapping.profile import EntityMap
from accord.model.entities import entity_spec
from accord.store import bookkeeping, links, records
from accord.store.types import ErrorEntry, HubRecord, Link, RecordWrite

FOLLOW_POLL_SECONDS = 0.05


def outbound_names(emap: EntityMap) -> list[str]:
    """The canonical fields an update may send (create-only fields are sent once)."""
    return [f.canonical for f in emap.outbound_fields if not f.only_on_create]


def unsent(data: Mapping[str, Any], link: Link, names: Sequence[str]) -> dict[str, Any]:
    """The hub values of ``names`` the system has not agreed to yet (held fields wait)."""
    return {
        name: data.get(name)
        for name in names
        if name not in link.held
        and data.get(name) != link.base.get(name)
        and (name in link.base or data.get(name) is not None)
    }


@dataclass
class _Outgoing:
    record: HubRecord
    link: Link
    operation: Operation
    canonical: dict[str, Any]  # the canonical values being sent
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, reason)


class PullFirstError(Exception):
    """A push-only run is about to create records in a system it has not pulled from:
    the run pulls first (matching may link them to records made there) and pushes again."""


class Push:
    def __init__(
        self,
        ctx: SyncContext,
        emap: EntityMap,
        *,
        match_first: bool = False,
        sent: dict[int, int] | None = None,
    ) -> None:
        """``match_first``: raise PullFirstError before the first create (or retried
        create) is sent, not send it (a pulling map only). ``sent``: what a push of this
        entity stopped that way sent earlier in the run (see ``sent``), not sent again."""
        self.ctx = ctx
        self.emap = emap
        self.match_first = match_first and emap.pull
        self.entity = emap.entity
        self.caps = ctx.connector.capabilities(emap.source)
        self._dry_creates = 0  # planned creates of a dry run so far
        # Fields the system sets and the hub only reads (the account number of a system
        # that owns the codes): a create learns them from the record it made.
        self._given = [
            f.canonical
            for f in emap.inbound_fields
            if not f.outbound and f.canonical not in emap.ref_fields
        ]
        # By hub id, the version of a record this run sent, or its own write on top of it
        # (the values a create was given): a journal entry up to it has nothing to send.
        self._sent: dict[int, int] = dict(sent or {})
        self._refusals: list[PlannedChange] = []  # the batch's creates refused, for the plan

    @property
    def sent(self) -> dict[int, int]:
        return self._sent

    def run(self) -> None:
        ctx = self.ctx
        with ctx.reading() as conn:
            _, position = bookkeeping.get_cursor(conn, ctx.system, self.entity)
            retry_ids = {
                row.record_id
                for row in bookkeeping.open_errors(conn, ctx.system, self.entity, "push")
                if row.record_id is not None
            }
            pending = {link.hub_id for link in links.pending(conn, ctx.system, self.entity)}
            retry_ids |= pending | set(ctx.requested)
            retry = list(records.get_many(conn, retry_ids).values())
            # Not sent twice in a run (a push stopped by PullFirstError sent them).
            retry = [
                r for r in retry if r.entity == self.entity and r.seq > self._sent.get(r.id, -1)
            ]
        if self.match_first and pending and not self.caps.idempotent_create:
            # Creates whose answer never came, in a system that cannot recognise one sent
            # twice: the pull finds the record the first attempt made (even of a record
            # deleted since, which then sends no create to stop at).
            raise PullFirstError(self.entity)
        # A retried record's journal entries up to the version sent now are skipped below
        # (``_push_batch`` notes it); a later one (an edit made meanwhile) is sent like any
        # other.
        if retry:
            self._push_batch(retry, None)
        done = 0
        # Blocks this run's pull wrote in agreement with the system are stepped over: only
        # their unsettled records are read again.
        ahead = [r for r in ctx.settled.get(self.entity, []) if r.lo > position]
        while True:
            # Asked before reading: once no other run may write, one more read finds all.
            following = ctx.others_pulling(self.entity)
            before = ahead[0].lo if ahead else None
            with ctx.reading() as conn:
                batch = records.changed_since(
                    conn, self.entity, position, ctx.batch_size, before=before
                )
            if batch:
                position = batch[-1].seq
                self._push_batch(self._not_sent(batch), position)
                done += len(batch)
            elif ahead:
                block = ahead.pop(0)
                with ctx.reading() as conn:
                    batch = records.at_seqs(conn, self.entity, block.unsettled)
                position = block.hi
                self._push_batch(self._not_sent(batch), position)
                done += block.hi - block.lo + 1
            elif following:
                time.sleep(FOLLOW_POLL_SECONDS)  # until the other runs write more, or end
                continue
            else:
                break
            ctx.report(self.entity, "push", done)

    def _not_sent(self, batch: Sequence[HubRecord]) -> list[HubRecord]:
        """The records of ``batch`` newer than the version this run sent them at, if any."""
        return [r for r in batch if r.seq > self._sent.get(r.id, -1)]

    def _push_batch(self, batch: Sequence[HubRecord], position: int | None) -> None:
        ctx = self.ctx
        refused: list[ErrorEntry] = []
        with ctx.reading() as conn:
            self._refusals = []
            outgoing = self._plan(conn, batch, refused)
        if self.match_first and any(o.operation.kind == "create" for o in outgoing):
            raise PullFirstError(self.entity)
        # Handled at this version (sent, refused or with nothing to send): a later journal
        # entry up to it (of a retried record, position None), or a push after a
        # PullFirstError, does not send it again. Other batches need no note: the position
        # moves past them (a first load would keep one per record).
        if position is None or self.match_first:
            for record in batch:
                self._sent[record.id] = max(self._sent.get(record.id, -1), record.seq)
        for refusal in self._refusals:  # counted once: not when the batch is planned again
            ctx.plan.add(refusal)
        with ctx.transaction() as conn:
            bookkeeping.add_errors(conn, refused, ctx.run_id, ctx.now())
            # Write-ahead: pending links (with their create markers) and the values about to
            # be sent are committed before the system is written.
            for item in outgoing:
                item.link.sending = dict(item.canonical)
            links.save(conn, [o.link for o in outgoing], ctx.now())
        ctx.step("push.before_apply")
        results = self._apply(outgoing)
        given, unread = self._given_values(outgoing, results)
        ctx.step("push.after_apply")
        with ctx.transaction() as conn:
            # Records with nothing left to send (e.g. merged meanwhile) close their errors too.
            sending = {o.record.id for o in outgoing}
            blocked = {e.record_id for e in refused}
            settled = [r.id for r in batch if r.id not in sending and r.id not in blocked]
            written = self._record(conn, outgoing, results, settled, given, unread)
            ctx.step("push.before_position")
            # The pull cursor learns of our writes in the same transaction as their bases.
            noted = self._noted_cursor(conn, written)
            if position is not None or noted is not None:
                bookkeeping.set_cursor(
                    conn, ctx.system, self.entity, pull_cursor=noted, push_seq=position
                )

    # -- deciding what to send ------------------------------------------------------------
    def _plan(
        self, conn: Connection, batch: Sequence[HubRecord], refused: list[ErrorEntry]
    ) -> list[_Outgoing]:
        ctx = self.ctx
        known = links.by_hub(conn, ctx.system, self.entity, [r.id for r in batch])
        refs = self._ref_keys(conn, batch)
        outgoing: list[_Outgoing] = []
        for record in batch:
            link = known.get(record.id)
            if link is None or link.state == "pending":
                item = self._create(record, link, refs, refused)
            elif link.state == "tombstone":
                continue
            elif record.deleted:
                item = self._delete(record, link, refs)
            else:
                item = self._update(record, link, refs, refused)
            if item is not None:
                outgoing.append(item)
        return outgoing

    def _ref_keys(self, conn: Connection, batch: Sequence[HubRecord]) -> dict[str, dict[int, str]]:
        found: dict[str, dict[int, str]] = {}
        for name, ref_entity in self.emap.ref_fields.items():
            ids = {r.data[name] for r in batch if r.data.get(name) is not None}
            found[name] = external_keys_for(conn, self.ctx.system, ref_entity, ids)
        return found

    def _to_system(
        self, canonical: dict[str, Any], refs: dict[str, dict[int, str]], creating: bool
    ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]:
        """Canonical -> native, leaving out (and reporting) what cannot be sent."""
        problems: list[tuple[str, str]] = []
        sendable = dict(canonical)
        for name, ref_entity in self.emap.ref_fields.items():
            if name not in sendable or sendable[name] is None:
                continue
            key = refs.get(name, {}).get(sendable[name])
            if key is None:
                problems.append(
                    (name, f"the referenced {ref_entity} is not linked to {self.ctx.system}")
                )
                del sendable[name]
            else:
                sendable[name] = key
        native, invalid = self.emap.outbound(sendable, creating=creating)
        for problem in invalid:
            problems.append((problem.field or "", str(problem.message)))
            sendable.pop(problem.field or "", None)
        mapped = self.emap.sent(creating=creating)
        sent = {name: canonical[name] for name in sendable if name in mapped}
        return native, sent, problems

    def _create(
        self,
        record: HubRecord,
        link: Link | None,
        refs: dict[str, dict[int, str]],
        refused: list[ErrorEntry],
    ) -> _Outgoing | None:
        policy = self.emap.create_in_system
        if record.deleted and link is not None and self.caps.idempotent_create:
            # Deleted while its create was in flight: finish the create (the marker makes
            # it idempotent) as an inactive record, so the system's copy is accounted for.
            record = HubRecord(
                record.id,
                record.entity,
                {**record.data, "active": False},
                record.provenance,
                False,
                record.seq,
                record.changed_at,
            )
        elif record.deleted or policy == "never" or not self.caps.create:
            return None
        if policy == "on_request" and record.id not in self.ctx.requested and link is None:
            return None
        if record.data.get("active") is False and link is None:
            return None  # an inactive record is not worth creating somewhere new
        values = {k: v for k, v in record.data.items() if v is not None}
        native, sent, problems = self._to_system(values, refs, creating=True)
        blocking = [p for p in problems if p[0] in self.emap.required_for_create]
        if blocking:
            for name, message in blocking:
                refused.append(self._error(record, name, message))
                self._refusals.append(
                    self._refusal(record, name, f"not created: {name}: {message}")
                )
            return None
        link = link or Link(
            None, self.ctx.system, self.entity, None, record.id, "pending", marker=new_marker()
        )
        operation = Operation("create", None, native, marker=link.marker)
        return _Outgoing(record, link, operation, sent, problems)

    def _update(
        self,
        record: HubRecord,
        link: Link,
        refs: dict[str, dict[int, str]],
        refused: list[ErrorEntry],
    ) -> _Outgoing | None:
        changed = unsent(record.data, link, self._outbound_names())
        if not changed:
            return None
        native, sent, problems = self._to_system(changed, refs, creating=False)
        if not native:
            for name, message in problems:
                refused.append(self._error(record, name, message))
                self._refusals.append(self._refusal(record, name, f"not sent: {name}: {message}"))
            return None  # nothing the system can take: report, don't count an update
        expected = link.base_version if self.caps.conditional_update else None
        operation = Operation("update", link.external_id, native, expected_version=expected)
        return _Outgoing(record, link, operation, sent, problems)

    def _delete(
        self, record: HubRecord, link: Link, refs: dict[str, dict[int, str]]
    ) -> _Outgoing | None:
        policy = self.emap.on_hub_delete
        if policy == "ignore":
            return None
        if policy == "delete" and self.caps.delete:
            return _Outgoing(record, link, Operation("delete", link.external_id), {})
        if not self.emap.has_active_flag() or link.base.get("active") is False:
            return None
        # The record's last unsent values go with the flag (a contact merged away, or
        # demoted before it was deleted, is no longer its account's primary contact);
        # what the system cannot take is left out, not a reason to stay active.
        changed = {**unsent(record.data, link, self._outbound_names()), "active": False}
        native, sent, _ = self._to_system(changed, refs, creating=False)
        if "active" not in sent:
            return None
        expected = link.base_version if self.caps.conditional_update else None
        operation = Operation("deactivate", link.external_id, native, expected_version=expected)
        return _Outgoing(record, link, operation, sent)

    def _dry_run_key(self) -> str:
        self._dry_creates += 1
        return f"(new {self.entity} {self._dry_creates})"

    def _outbound_names(self) -> list[str]:
        return outbound_names(self.emap)

    # -- sending and recording ------------------------------------------------------------
    def _apply(self, outgoing: list[_Outgoing]) -> list[OperationResult]:
        sendable = [
            o for o in outgoing if o.operation.values or o.operation.kind in ("create", "delete")
        ]
        send = self._pretend if self.ctx.dry_run else self._send
        results = dict(zip(map(id, sendable), send(sendable), strict=True)) if sendable else {}
        # A field the system refuses is dropped and the rest sent again (S001-09).
        retry = [
            o
            for o in sendable
            if not results[id(o)].ok
            and results[id(o)].field
            and not results[id(o)].stale
            and self._without_field(o, results[id(o)])
        ]
        if retry:
            results.update(zip(map(id, retry), send(retry), strict=True))
        # A deactivation refused with the other values it carried (a database error names
        # no field, or several were refused) goes again with the flag alone: what the
        # system cannot take is no reason for a deleted record to stay active there.
        bare = [o for o in sendable if self._flag_only(o, results[id(o)])]
        if bare:
            results.update(zip(map(id, bare), send(bare), strict=True))
        return [
            results.get(id(o), OperationResult(True, o.operation.key, o.link.base_version))
            for o in outgoing
        ]

    def _send(self, items: list[_Outgoing]) -> list[OperationResult]:
        return self.ctx.connector.apply(self.emap.source, [o.operation for o in items])

    def _pretend(self, items: list[_Outgoing]) -> list[OperationResult]:
        """A dry run's answers: what the system would refuse before it is written to, and
        the rest as done. Each planned create stands for a record of its own: the links
        the dry run writes (and rolls back) must not share one made-up key."""
        refusals = self.ctx.connector.refusals(self.emap.source, [o.operation for o in items])
        return [
            refusal or OperationResult(True, o.operation.key or self._dry_run_key())
            for o, refusal in zip(items, refusals, strict=True)
        ]

    def _given_values(
        self, outgoing: list[_Outgoing], results: list[OperationResult]
    ) -> tuple[dict[int, dict[str, Any]], str | None]:
        """What the system gave the records it just created in the fields only it sets,
        by hub id; and why they could not be read, if so."""
        if not self._given or self.ctx.dry_run:
            return {}, None
        created = {
            str(r.key): o.record.id
            for o, r in zip(outgoing, results, strict=True)
            if r.ok and r.key and o.operation.kind == "create"
        }
        if not created:
            return {}, None
        try:
            found = self.ctx.connector.read_by_keys(self.emap.source, list(created))
        except ConnectorError as exc:
            return {}, exc.message
        given: dict[int, dict[str, Any]] = {}
        for rec in found:
            if rec.deleted or rec.key not in created:
                continue
            canonical, _ = self.emap.inbound(rec.values)
            values = {name: canonical[name] for name in self._given if name in canonical}
            if values:
                given[created[rec.key]] = values
        return given, None

    def _flag_only(self, item: _Outgoing, result: OperationResult) -> bool:
        """Make a refused deactivation that carried other values send the flag alone."""
        op = item.operation
        if result.ok or result.stale or result.transient:
            return False  # a transient failure is retried whole, values and all
        if op.kind != "deactivate" or len(item.canonical) <= 1:
            return False
        for name in item.canonical:
            if name != "active":
                item.problems.append((name, result.error or "refused by the system"))
        item.canonical = {"active": False}
        native, _ = self.emap.outbound({"active": False})
        item.operation = Operation(op.kind, op.key, native, op.marker, op.expected_version)
        return True

    def _without_field(self, item: _Outgoing, refused: OperationResult) -> bool:
        name = self._canonical_name(refused.field or "")
        mapped = self.emap.field(name)
        native_name = mapped.native if mapped else refused.field
        if native_name not in item.operation.values or len(item.operation.values) <= 1:
            return False
        item.problems.append((name, refused.error or "refused by the system"))
        item.canonical.pop(name, None)
        values = {k: v for k, v in item.operation.values.items() if k != native_name}
        op = item.operation
        item.operation = Operation(op.kind, op.key, values, op.marker, op.expected_version)
        return True

    def _canonical_name(self, native_or_canonical: str) -> str:
        for item in self.emap.fields:
            if native_or_canonical in (item.native, item.canonical):
                return item.canonical
        return native_or_canonical

    def _record(
        self,
        conn: Connection,
        outgoing: list[_Outgoing],
        results: list[OperationResult],
        settled: list[int],
        given: Mapping[int, dict[str, Any]],
        unread: str | None,
    ) -> list[OperationResult]:
        """Save what the system confirmed; returns the results whose bases were saved.

        ``given``: values the system gave created records in fields only it sets; they
        go to the hub record and the base (``unread``: why they could not be read, if so).
        """
        ctx, at = self.ctx, self.ctx.now()
        errors: list[ErrorEntry] = []
        saved: list[Link] = []
        kept: dict[int, OperationResult] = {}  # by hub id: the writes whose bases are saved
        done: list[int] = list(settled)
        keep: set[tuple[Any, Any]] = set()
        for item, result in zip(outgoing, results, strict=True):
            for name, reason in item.problems:
                errors.append(self._error(item.record, name, reason))
                keep.add((item.record.id, name))
                self._plan_refusal(item.record, name, f"not sent: {name}: {reason}")
            if not result.ok:
                if result.stale:
                    message = (
                        "changed in the system while syncing; it will be merged on the next pull"
                    )
                else:
                    message = result.error or "refused by the system"
                field = self._canonical_name(result.field) if result.field else None
                errors.append(
                    self._error(item.record, field, message, result.transient or result.stale)
                )
                keep.add((item.record.id, field))
                self._plan_entry(item, "error", message, field or "")
                continue
            self._plan_entry(item, item.operation.kind, "")
            link = item.link
            if item.operation.kind == "create":
                link.external_id, link.state, link.marker = result.key, "active", None
                link.base = {**item.canonical, **given.get(item.record.id, {})}
            elif item.operation.kind == "delete":
                link.state = "tombstone"
            else:
                link.base = {**link.base, **item.canonical}
            link.base_version = result.version
            if unread is not None and item.operation.kind == "create":
                # What the system gave it is unknown: no version, so the next pull reads
                # the record in full and takes those values then.
                link.base_version = None
            link.sending = None
            saved.append(link)
            kept[link.hub_id] = result
            done.append(item.record.id)
        created = [o.link for o in outgoing if o.operation.kind == "create" and o.link.external_id]
        links.release_external_ids(
            conn, ctx.system, self.entity, [str(link.external_id) for link in created]
        )
        taken = links.hub_ids_by_external(
            conn, ctx.system, self.entity, [str(link.external_id) for link in created]
        )
        for link in created:
            owner = taken.get(str(link.external_id))
            if owner is not None and owner != link.hub_id:
                # The system answered a create with a record already linked elsewhere: keep
                # both links as they are and say so, rather than fail the whole batch.
                saved.remove(link)
                kept.pop(link.hub_id, None)
                done.remove(link.hub_id)
                errors.append(
                    ErrorEntry(
                        ctx.system,
                        self.entity,
                        "push",
                        f"{ctx.system} returned {link.external_id} for this create, but that"
                        f" record is linked to hub record {owner}",
                        record_id=link.hub_id,
                    )
                )
        links.save(conn, saved, at)
        sent_at = {o.record.id: o.record.seq for o in outgoing}
        self._take_given(conn, {i: v for i, v in given.items() if i in kept}, sent_at, at)
        bookkeeping.add_errors(conn, errors, ctx.run_id, at)
        bookkeeping.resolve_errors(
            conn, ctx.system, self.entity, "push", record_ids=done, at=at, keep=keep
        )
        return list(kept.values())

    def _take_given(
        self,
        conn: Connection,
        given: Mapping[int, dict[str, Any]],
        sent_at: Mapping[int, int],
        at: str,
    ) -> None:
        """Write the values the system gave (its account number replaces the hub's
        provisional one), as the system's writes, into the hub records.

        ``sent_at``: the version each record was sent at. A write on top of that version
        leaves nothing to send; one on top of a later edit leaves that edit to send.
        """
        ctx = self.ctx
        writes: list[RecordWrite] = []
        on_sent: list[bool] = []
        for hub_id, current in records.get_many(conn, list(given)).items():
            values = given[hub_id]
            changes = {n: [current.data.get(n), v] for n, v in values.items()}
            changes = {n: ov for n, ov in changes.items() if ov[0] != ov[1]}
            if not changes:
                continue
            source = [ctx.system, ctx.run_id, at]
            writes.append(
                RecordWrite(
                    hub_id,
                    self.entity,
                    "update",
                    changes,
                    ctx.system,
                    max(at, current.changed_at),
                    {**current.data, **values},
                    {**current.provenance, **{name: source for name in changes}},
                    deleted=current.deleted,
                    expected_seq=current.seq,
                )
            )
            on_sent.append(current.seq == sent_at.get(hub_id))
        seqs = records.apply_writes(conn, writes, ctx.run_id, at)
        for write, seq, ours in zip(writes, seqs, on_sent, strict=True):
            if ours:
                self._sent[write.record_id] = seq

    def _noted_cursor(self, conn: Connection, written: list[OperationResult]) -> str | None:
        """The pull cursor told of what was just written, or None if it stays as it is."""
        if not written or self.ctx.dry_run:
            return None
        ctx = self.ctx
        cursor, _ = bookkeeping.get_cursor(conn, ctx.system, self.entity)
        noted = ctx.connector.note_writes(self.emap.source, cursor, written)
        return noted if noted != cursor else None

    def _plan_entry(self, item: _Outgoing, action: str, reason: str, field: str = "") -> None:
        """``field``: the one an error is about, so a role's card layout can mask it."""
        if self.ctx.plan.count_only("system", self.entity, action):
            return
        diffs = tuple(
            (name, item.link.base.get(name), value) for name, value in item.canonical.items()
        )
        label = entity_spec(self.entity).label(item.record.data)
        self.ctx.plan.add(PlannedChange("system", self.entity, action, label, diffs, reason, field))

    def _refusal(self, record: HubRecord, name: str, reason: str) -> PlannedChange:
        """The plan's line for a field the system will not be sent (or refused)."""
        label = entity_spec(self.entity).label(record.data)
        return PlannedChange("system", self.entity, "error", label, reason=reason, field=name)

    def _plan_refusal(self, record: HubRecord, name: str, reason: str) -> None:
        if not self.ctx.plan.count_only("system", self.entity, "error"):
            self.ctx.plan.add(self._refusal(record, name, reason))

    def _error(
        self, record: HubRecord, field: str | None, message: str, transient: bool = False
    ) -> ErrorEntry:
        return ErrorEntry(
            self.ctx.system,
            self.entity,
            "push",
            message,
            record_id=record.id,
            field=field,
            transient=transient,
        )
