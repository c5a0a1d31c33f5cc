"""Accord sync benchmark: ERP -> hub -> second ERP, then 1% edits, with baselines.

Run from the repository root::

    .venv/bin/python bench/sync_bench.py                       # 100,000 / 300,000
    .venv/bin/python bench/sync_bench.py --companies 2000 --contacts 6000   # quick check

Every measured phase runs in a fresh (spawned) process, so its peak RSS is its own. See
bench/README.md for what is measured and how the targets are judged.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import inspect
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.connectors.sql_tables import TableSpec
    from accord.engine import Plan
    from accord.store import HubStore

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results" / "latest.json"
EDIT_FRACTION = 0.01
DLT_PAGE = 5000  # rows per page yielded to dlt
SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite

# Targets from the issue.
INITIAL_VS_RAW = 5.0  # initial sync within 5x the raw copy
INITIAL_VS_DLT = 1.0  # and no slower than dlt
INCREMENTAL_VS_INITIAL = 0.05  # the 1% incremental within 5% of the initial sync's time
PEAK_MB = 500.0


# -- what the ERP rows look like to the baselines ------------------------------------------
@dataclass(frozen=True)
class Query:
    """One entity's rows as the sync reads them: key(s), stamp, then the mapped columns."""

    table: str  # destination table of the baselines
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    select: str  # SELECT ... FROM ... (no WHERE)
    stamp: str  # the modified-time column, for "WHERE <stamp> >= ?"
    types: dict[str, str]  # dlt data type per column (SQLite hands times over as text)


def erp_queries() -> list[Query]:
    """The rows the sync moves, from the Exo preset's table declarations."""
    from sqlalchemy import Integer

    from accord.presets import exo
    from accord.sandbox.exo import metadata

    kinds = {
        col.name: "bigint" if isinstance(col.type, Integer) else "text"
        for table in metadata.tables.values()
        for col in table.columns
    }
    specs = {spec.name: spec for spec in exo.tables()}
    cust, cont = specs["customers"], specs["contacts"]
    assert cust.modified and cont.modified and cont.fan_out
    cust_cols = (cust.key, cust.modified, *(c for c in cust.columns if c != cust.key))
    fan = cont.fan_out
    cont_cols = (cont.key, fan.parent_key, cont.modified, *cont.columns, *fan.columns)
    cont_select = ", ".join(
        [f"c.{cont.key}", f"l.{fan.parent_key}", f"c.{cont.modified}"]
        + [f"c.{c}" for c in cont.columns]
        + [f"l.{c}" for c in fan.columns]
    )
    return [
        Query(
            "customers",
            cust_cols,
            (cust.key,),
            f"SELECT {', '.join(cust_cols)} FROM {cust.table}",
            cust.modified,
            {c: kinds[c] for c in cust_cols},
        ),
        Query(
            "contacts",
            cont_cols,
            (cont.key, fan.parent_key),
            f"SELECT {cont_select} FROM {fan.table} l "
            f"JOIN {cont.table} c ON l.{fan.child_key} = c.{cont.key}",
            f"c.{cont.modified}",
            {c: kinds[c] for c in cont_cols},
        ),
    ]


def _rows(db: str, query: Query, since: str | None) -> Iterator[tuple[Any, ...]]:
    src = sqlite3.connect(db)
    try:
        if since is None:
            yield from src.execute(query.select)
        else:
            yield from src.execute(f"{query.select} WHERE {query.stamp} >= ?", (since,))
    finally:
        src.close()


# -- measured phases (each runs in a fresh process) --------------------------------------------
@dataclass(frozen=True)
class SyncTask:
    hub_url: str
    systems: dict[str, str]  # name -> SQLAlchemy URL
    name: str  # the system to sync
    batch_size: int
    detection: str  # "modified" (LAST_UPDATED) or "hash" (no modified column)
    profile_path: str | None = None
    together: bool = False  # all systems at once, as `accord sync` runs them (run_many)


@dataclass(frozen=True)
class RawTask:
    source: str  # ERP SQLite file
    target: str  # copy SQLite file
    queries: list[Query]
    since: str | None  # None: copy everything into a fresh file; else upsert changed rows


@dataclass(frozen=True)
class DltTask:
    source: str
    workdir: str
    queries: list[Query]
    since: str | None


def hash_tables() -> list[TableSpec]:
    """The Exo tables with no modified column on customers and contacts: hash detection."""
    from accord.presets import exo

    return [
        replace(spec, modified=None) if spec.name in ("customers", "contacts") else spec
        for spec in exo.tables()
    ]


def _instrument() -> dict[str, float]:
    """Time Pull.run, Pull._detect_deletions and Push.run per entity (in the child only)."""
    from accord.engine.pull import Pull
    from accord.engine.push import Push

    totals: dict[str, float] = {}

    def wrap(cls: Any, method: str, label: str) -> None:
        original = getattr(cls, method)

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                key = f"{label}.{self.entity}"
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

        setattr(cls, method, timed)

    wrap(Pull, "run", "pull")
    wrap(Pull, "_detect_deletions", "deletions")
    wrap(Push, "run", "push")
    return totals


CODE_OWNER = "erp1"  # the system whose account numbers are the hub's account codes


def _owns_codes(name: str, accepted: Sequence[str]) -> dict[str, Any]:
    """``owns_codes`` for versions of accord that have it (one owner per configuration)."""
    return {"owns_codes": name == CODE_OWNER} if "owns_codes" in accepted else {}


def _sync_call(task: SyncTask, store: HubStore) -> Callable[[], Plan]:
    if task.detection == "modified":
        from accord.config import Config, HubConfig, SystemConfig
        from accord.service import sync as sync_service

        config = Config(
            hub=HubConfig(database=task.hub_url, database_env=None),
            systems={
                name: SystemConfig(
                    kind="sql",
                    preset="exo",
                    url=url,
                    sync="two-way",
                    batch_size=task.batch_size,
                    **_owns_codes(name, list(SystemConfig.model_fields)),
                )
                for name, url in task.systems.items()
            },
        )
        if task.together:
            return lambda: _together(config, list(task.systems))
        return lambda: sync_service.run(config, task.name, store=store)

    from accord.clock import SystemClock
    from accord.connectors.sql import SqlConnector
    from accord.engine import SyncContext, sync
    from accord.presets import exo

    options = _owns_codes(task.name, list(inspect.signature(exo.profile).parameters))

    def run() -> Plan:
        clock = SystemClock()
        connector = SqlConnector(task.name, task.systems[task.name], hash_tables(), clock)
        try:
            profile = exo.profile(**options)
            ctx = SyncContext(
                store, connector, profile, task.name, clock, batch_size=task.batch_size
            )
            return sync(ctx)
        finally:
            connector.close()

    return run


def _together(config: Any, names: list[str]) -> Plan:
    """`accord sync`'s way: every system at once, one process each; the counts merged."""
    from accord.engine import Plan
    from accord.service.sync_many import run_many

    merged = Plan("+".join(names), False)
    for outcome in run_many(config, names):
        if outcome.plan is None:
            raise RuntimeError(f"{outcome.system} failed: {outcome.error}")
        for key, count in outcome.plan.counts.items():
            merged.counts[f"{outcome.system}:{key}"] += count
    return merged


class ChildPeaks:
    """Memory of the processes this one starts, read from /proc every 50 ms while they
    run: each one's peak (VmHWM), and the peak of all of them together with this one
    (the largest sum of their resident sizes, VmRSS, at one reading)."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self.together_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        import multiprocessing

        while not self._stop.wait(0.05):
            total = _status_mb("self", "VmRSS:") or 0.0
            for child in multiprocessing.active_children():
                if child.pid is None:
                    continue
                if (mb := _status_mb(str(child.pid), "VmHWM:")) is not None:
                    self.peaks[child.pid] = max(self.peaks.get(child.pid, 0.0), mb)
                total += _status_mb(str(child.pid), "VmRSS:") or 0.0
            self.together_mb = max(self.together_mb, total)


def _status_mb(pid: str, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def sync_worker(task: SyncTask) -> dict[str, Any]:
    from accord.store import HubStore

    store = HubStore(task.hub_url)  # opened (and migrated) before the clock starts
    steps = _instrument()
    children_cpu = _children_cpu()
    try:
        call = _sync_call(task, store)
        profiler = cProfile.Profile() if task.profile_path else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        with ChildPeaks() as children:
            plan = call()
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profiler is not None and task.profile_path:
            profiler.dump_stats(task.profile_path)
    finally:
        store.close()
    return {
        "seconds": seconds,
        # The processes a run of several systems starts are waited for: their CPU counts.
        "cpu_seconds": cpu + _children_cpu() - children_cpu,
        "counts": dict(plan.counts),
        "steps": steps,
        "child_peaks_mb": sorted(children.peaks.values(), reverse=True),
        "together_peak_mb": children.together_mb,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_copy_worker(task: RawTask) -> dict[str, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    dst = sqlite3.connect(task.target, isolation_level=None)
    rows = 0
    try:
        if task.since is None:
            for q in task.queries:
                cols = ", ".join(q.columns)
                dst.execute(f"CREATE TABLE {q.table} ({cols}, PRIMARY KEY ({', '.join(q.keys)}))")
        dst.execute("BEGIN")
        for q in task.queries:
            verb = "INSERT" if task.since is None else "INSERT OR REPLACE"
            marks = ", ".join("?" * len(q.columns))
            cur = dst.executemany(
                f"{verb} INTO {q.table} VALUES ({marks})", _rows(task.source, q, task.since)
            )
            rows += cur.rowcount
        dst.execute("COMMIT")
    finally:
        dst.close()
    return _timed(start, cpu, rows=rows)


def dlt_worker(task: DltTask) -> dict[str, Any]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt

    counted = [0]

    def pages(query: Query) -> Iterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        for row in _rows(task.source, query, task.since):
            page.append(dict(zip(query.columns, row, strict=True)))
            if len(page) >= DLT_PAGE:
                counted[0] += len(page)
                yield page
                page = []
        if page:
            counted[0] += len(page)
            yield page

    start, cpu = time.perf_counter(), time.process_time()
    workdir = Path(task.workdir)
    pipeline = dlt.pipeline(
        pipeline_name="accord_bench",
        pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.duckdb(str(workdir / "bench.duckdb")),
        dataset_name="erp",
    )
    resource: Any = dlt.resource  # its overloads do not type a generator with columns
    resources = [
        resource(
            pages(q),
            name=q.table,
            primary_key=list(q.keys),
            write_disposition="merge",
            columns=[{"name": c, "data_type": q.types[c]} for c in q.columns],
        )
        for q in task.queries
    ]
    pipeline.run(resources)
    return _timed(start, cpu, rows=counted[0])


def _timed(start: float, cpu: float, **extra: Any) -> dict[str, Any]:
    """Wall and CPU seconds since ``start`` / ``cpu`` (CPU: every thread of this process)."""
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        **extra,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB.

    Linux: VmHWM, the high-water mark of the current address space. ``ru_maxrss`` is not
    used there because it survives fork and exec: a spawned child would report its
    parent's size at the fork (the parent holds the generated data for a moment).
    """
    if (mb := _status_mb("self", "VmHWM:")) is not None:
        return mb
    per_mib = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, else KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mib


def _measured(fn: Callable[[Any], dict[str, Any]], task: Any) -> dict[str, Any]:
    result = fn(task)
    result["peak_mb"] = peak_rss_mb()
    if result.get("child_peaks_mb"):
        # Processes of its own (systems synced at once): what they held together at most.
        result["peak_mb"] = max(result["peak_mb"], result["together_peak_mb"])
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def in_child(fn: Callable[[Any], dict[str, Any]], task: Any) -> dict[str, Any]:
    """Run ``fn(task)`` in a freshly spawned interpreter; its result gains ``peak_mb``."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, fn, task).result()


# -- setting up (not timed) --------------------------------------------------------------------
def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def make_target(source: Path, target: Path) -> None:
    """An empty Exo-shaped database holding only the source's staff list.

    Sales people are kept in each ERP (the preset never creates them), so the second ERP
    has the same STAFF rows; its companies' account managers then resolve.
    """
    from accord.sandbox.exo import create_schema
    from accord.store.database import make_system_engine

    engine = make_system_engine(url_of(target))
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    conn = sqlite3.connect(target)
    try:
        conn.execute("ATTACH DATABASE ? AS src", (str(source),))
        with conn:
            conn.execute("INSERT INTO STAFF SELECT * FROM src.STAFF")
    finally:
        conn.close()


@dataclass
class Edits:
    round: int
    stamp: str  # LAST_UPDATED of every edited row (SQLite text form)
    customers: list[int]
    contacts: list[int]
    contact_pairs: int  # DR_CONTACTS rows of the edited contacts: hub people changed

    @property
    def records(self) -> int:
        return len(self.customers) + self.contact_pairs


def apply_edits(db: Path, round_no: int, seed: int, fraction: float = EDIT_FRACTION) -> Edits:
    """Edit ``fraction`` of customers (ADDRESS2) and contacts (TITLE), stamping LAST_UPDATED."""
    rng = random.Random(seed * 1000 + round_no)
    stamp = datetime.now(UTC).replace(tzinfo=None).strftime(SQLITE_STAMP)
    conn = sqlite3.connect(db)
    try:
        accnos = [r[0] for r in conn.execute("SELECT ACCNO FROM DR_ACCS ORDER BY ACCNO")]
        seqnos = [r[0] for r in conn.execute("SELECT SEQNO FROM CONTACTS ORDER BY SEQNO")]
        customers = sorted(rng.sample(accnos, max(1, round(len(accnos) * fraction))))
        contacts = sorted(rng.sample(seqnos, max(1, round(len(seqnos) * fraction))))
        with conn:
            conn.executemany(
                "UPDATE DR_ACCS SET ADDRESS2 = ?, LAST_UPDATED = ? WHERE ACCNO = ?",
                [(f"Bench r{round_no} {k}", stamp, k) for k in customers],
            )
            conn.executemany(
                "UPDATE CONTACTS SET TITLE = ?, LAST_UPDATED = ? WHERE SEQNO = ?",
                [(f"Bench r{round_no} {k}", stamp, k) for k in contacts],
            )
        wanted = set(contacts)
        pairs = sum(
            1 for (s,) in conn.execute("SELECT CONTACT_SEQNO FROM DR_CONTACTS") if s in wanted
        )
    finally:
        conn.close()
    return Edits(round_no, stamp, customers, contacts, pairs)


# -- checking (cheap, after each phase) --------------------------------------------------------
def _one(conn: sqlite3.Connection, sql: str, *params: Any) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def check(hub: Path, erp1: Path, erp2: Path, edits: Edits | None) -> dict[str, Any]:
    """Counts in the hub and in erp2 against erp1, and every edited row in erp2."""
    conn = sqlite3.connect(erp1)
    try:
        conn.execute("ATTACH DATABASE ? AS hub", (str(hub),))
        conn.execute("ATTACH DATABASE ? AS t", (str(erp2),))
        hub_counts = dict(
            conn.execute(
                "SELECT entity, count(*) FROM hub.records WHERE NOT deleted GROUP BY entity"
            ).fetchall()
        )
        pushable_pairs = (
            "FROM DR_CONTACTS l JOIN CONTACTS c ON c.SEQNO = l.CONTACT_SEQNO "
            "JOIN DR_ACCS a ON a.ACCNO = l.ACCNO WHERE c.ISACTIVE = 'Y' AND a.ISACTIVE = 'Y'"
        )
        out: dict[str, Any] = {
            "erp1_companies": _one(conn, "SELECT count(*) FROM DR_ACCS"),
            "erp1_contact_pairs": _one(conn, "SELECT count(*) FROM DR_CONTACTS"),
            "hub_companies": hub_counts.get("company", 0),
            "hub_people": hub_counts.get("person", 0),
            # Inactive records are not created somewhere new, nor the contacts of inactive
            # companies (their company is not there to link them to).
            "erp2_expected_companies": _one(
                conn, "SELECT count(*) FROM DR_ACCS WHERE ISACTIVE = 'Y'"
            ),
            "erp2_companies": _one(conn, "SELECT count(*) FROM t.DR_ACCS"),
            "erp2_expected_contact_pairs": _one(conn, f"SELECT count(*) {pushable_pairs}"),
            "erp2_contact_pairs": _one(conn, "SELECT count(*) FROM t.DR_CONTACTS"),
            "open_errors": _one(conn, "SELECT count(*) FROM hub.errors WHERE status = 'open'"),
            "open_conflicts": _one(
                conn, "SELECT count(*) FROM hub.conflicts WHERE status = 'open'"
            ),
        }
        ok = (
            out["hub_companies"] == out["erp1_companies"]
            and out["hub_people"] == out["erp1_contact_pairs"]
            and out["erp2_companies"] == out["erp2_expected_companies"]
            and out["erp2_contact_pairs"] == out["erp2_expected_contact_pairs"]
        )
        if edits is not None:
            out.update(_check_edits(conn, edits))
            ok = ok and out["edited_reached_erp2"] == out["edited_expected_in_erp2"]
        out["ok"] = ok
    finally:
        conn.close()
    return out


def _check_edits(conn: sqlite3.Connection, edits: Edits) -> dict[str, int]:
    """Every edited (and pushable) row of erp1, followed through the hub's links to erp2."""
    companies = _one(
        conn,
        "SELECT count(*) FROM DR_ACCS s "
        "JOIN hub.links l1 ON l1.system = 'erp1' AND l1.entity = 'company' "
        "  AND l1.external_id = CAST(s.ACCNO AS TEXT) "
        "JOIN hub.links l2 ON l2.system = 'erp2' AND l2.entity = 'company' "
        "  AND l2.hub_id = l1.hub_id AND l2.state = 'active' "
        "JOIN t.DR_ACCS d ON d.ACCNO = CAST(l2.external_id AS INTEGER) "
        "WHERE s.LAST_UPDATED = ? AND s.ISACTIVE = 'Y' AND d.ADDRESS2 IS s.ADDRESS2",
        edits.stamp,
    )
    expected_companies = _one(
        conn,
        "SELECT count(*) FROM DR_ACCS WHERE LAST_UPDATED = ? AND ISACTIVE = 'Y'",
        edits.stamp,
    )
    people = _one(
        conn,
        "SELECT count(*) FROM DR_CONTACTS l JOIN CONTACTS s ON s.SEQNO = l.CONTACT_SEQNO "
        "JOIN DR_ACCS a ON a.ACCNO = l.ACCNO "
        "JOIN hub.links l1 ON l1.system = 'erp1' AND l1.entity = 'person' "
        "  AND l1.external_id = s.SEQNO || '@' || l.ACCNO "
        "JOIN hub.links l2 ON l2.system = 'erp2' AND l2.entity = 'person' "
        "  AND l2.hub_id = l1.hub_id AND l2.state = 'active' "
        "JOIN t.CONTACTS d ON d.SEQNO = "
        "  CAST(substr(l2.external_id, 1, instr(l2.external_id, '@') - 1) AS INTEGER) "
        "WHERE s.LAST_UPDATED = ? AND s.ISACTIVE = 'Y' AND a.ISACTIVE = 'Y' "
        "  AND d.TITLE IS s.TITLE",
        edits.stamp,
    )
    expected_people = _one(
        conn,
        "SELECT count(*) FROM DR_CONTACTS l JOIN CONTACTS s ON s.SEQNO = l.CONTACT_SEQNO "
        "JOIN DR_ACCS a ON a.ACCNO = l.ACCNO "
        "WHERE s.LAST_UPDATED = ? AND s.ISACTIVE = 'Y' AND a.ISACTIVE = 'Y'",
        edits.stamp,
    )
    return {
        "edited_expected_in_erp2": expected_companies + expected_people,
        "edited_reached_erp2": companies + people,
    }


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    seconds: float
    cpu_seconds: float
    records: int
    peak_mb: float
    kind: str  # "initial" or "incremental": which baseline it compares with
    detail: dict[str, Any] = field(default_factory=dict)
    ratio_raw: float | None = None
    ratio_dlt: float | None = None
    ratio_initial: float | None = None  # incremental phases: seconds / initial seconds
    target: str = ""
    met: bool | None = None

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.phases: list[Phase] = []
        self.checks: dict[str, Any] = {}
        self.queries = erp_queries()
        self.profile_dir = Path(args.profile_dir).resolve() if args.profile_dir else None
        self.load_at_start: float | None = None
        self.source_at_start = accord_source()[1]

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def sync_phase(
        self, name: str, kind: str, records: int, hub: Path, systems: dict[str, Path], mode: str
    ) -> Phase:
        """Sync erp1 and erp2 at once as `accord sync` does (modified-time detection,
        unless --one-at-a-time), or erp1 then erp2, each in its own fresh process."""
        urls = {n: url_of(p) for n, p in systems.items()}
        if mode == "modified" and not self.args.one_at_a_time:
            task = SyncTask(url_of(hub), urls, "+".join(urls), self.args.batch_size, mode,
                            together=True)  # fmt: skip
            result = in_child(sync_worker, task)
            peaks = ", ".join(f"{mb:.0f}" for mb in result["child_peaks_mb"])
            self.log(
                f"  {name}: {' and '.join(systems)} at once {result['seconds']:.2f} s,"
                f" {result['peak_mb']:.0f} MB at most together (each process's peak: {peaks} MB)"
            )
            return Phase(
                name, result["seconds"], result["cpu_seconds"], records, result["peak_mb"],
                kind, {task.name: result},
            )  # fmt: skip
        total, cpu, peak, detail = 0.0, 0.0, 0.0, {}
        for system in systems:
            profile = None
            if self.profile_dir is not None:
                slug = "".join(c if c.isalnum() else "_" for c in name.replace("%", "pct"))
                profile = str(self.profile_dir / f"{slug}.{system}.prof")
            task = SyncTask(url_of(hub), urls, system, self.args.batch_size, mode, profile)
            result = in_child(sync_worker, task)
            self.log(f"  {name}: {system} {result['seconds']:.2f} s, {result['peak_mb']:.0f} MB")
            total += result["seconds"]
            cpu += result["cpu_seconds"]
            peak = max(peak, result["peak_mb"])
            detail[system] = result
        return Phase(name, total, cpu, records, peak, kind, detail)

    def baseline(
        self, name: str, kind: str, fn: Callable[[Any], dict[str, Any]], task: Any
    ) -> Phase:
        result = in_child(fn, task)
        self.log(f"  {name}: {result['seconds']:.2f} s ({result['rows']} rows)")
        return Phase(
            name,
            result["seconds"],
            result["cpu_seconds"],
            result["rows"],
            result["peak_mb"],
            kind,
            result,
        )

    def run(self) -> None:
        from accord.sandbox.exo import generate

        args, work = self.args, self.workdir
        pristine = work / "erp1.pristine.db"
        self.log(f"generating {args.companies} companies, {args.contacts} contacts in {work}")
        stats = generate(
            url_of(pristine), customers=args.companies, contacts=args.contacts, seed=args.seed
        )
        self.stats = stats
        records = stats.customers + stats.links
        self.log(f"  {stats.customers} companies, {stats.contacts} contacts, {stats.links} pairs")

        # Modified-time detection (the preset as shipped).
        erp1, erp2, hub = work / "erp1.db", work / "erp2.db", work / "hub.db"
        shutil.copyfile(pristine, erp1)
        make_target(erp1, erp2)
        raw_db, dlt_dir = work / "raw_copy.db", work / "dlt"
        dlt_dir.mkdir()

        self.log("baselines: raw copy and dlt (initial)")
        raw_initial = self.baseline(
            "raw copy", "initial", raw_copy_worker,
            RawTask(str(erp1), str(raw_db), self.queries, None),
        )  # fmt: skip
        dlt_initial = None
        if not args.no_dlt:
            dlt_initial = self.baseline(
                "dlt -> duckdb merge", "initial", dlt_worker,
                DltTask(str(erp1), str(dlt_dir), self.queries, None),
            )  # fmt: skip

        self.log("sync, modified-time detection")
        systems = {"erp1": erp1, "erp2": erp2}
        initial = self.sync_phase("sync initial", "initial", records, hub, systems, "modified")
        self.checks["initial"] = check(hub, erp1, erp2, None)

        edits = apply_edits(erp1, 1, args.seed)
        self.log(f"edited {len(edits.customers)} customers, {len(edits.contacts)} contacts")
        raw_inc = self.baseline(
            "raw upsert 1%", "incremental", raw_copy_worker,
            RawTask(str(erp1), str(raw_db), self.queries, edits.stamp),
        )  # fmt: skip
        dlt_inc = None
        if not args.no_dlt:
            dlt_inc = self.baseline(
                "dlt merge 1%", "incremental", dlt_worker,
                DltTask(str(erp1), str(dlt_dir), self.queries, edits.stamp),
            )  # fmt: skip
        if dlt_inc is not None and dlt_inc.records != raw_inc.records:
            self.log(f"  warning: dlt merged {dlt_inc.records} rows, raw {raw_inc.records}")
        inc = self.sync_phase("sync 1%", "incremental", edits.records, hub, systems, "modified")
        self.checks["incremental"] = check(hub, erp1, erp2, edits)

        edits2 = apply_edits(erp1, 2, args.seed)
        inc2 = self.sync_phase(
            "sync 1% again", "incremental", edits2.records, hub, systems, "modified"
        )
        self.checks["incremental_again"] = check(hub, erp1, erp2, edits2)

        self.phases += [raw_initial, raw_inc]
        self.phases += [p for p in (dlt_initial, dlt_inc) if p is not None]
        self.phases += [initial, inc, inc2]

        if not args.no_hash:
            self.log("sync, hash detection (no modified column on customers and contacts)")
            herp1, herp2, hhub = work / "h_erp1.db", work / "h_erp2.db", work / "h_hub.db"
            shutil.copyfile(pristine, herp1)
            make_target(herp1, herp2)
            hsystems = {"erp1": herp1, "erp2": herp2}
            h_initial = self.sync_phase(
                "hash: sync initial", "initial", records, hhub, hsystems, "hash"
            )
            self.checks["hash_initial"] = check(hhub, herp1, herp2, None)
            hedits = apply_edits(herp1, 1, args.seed)
            h_inc = self.sync_phase(
                "hash: sync 1%", "incremental", hedits.records, hhub, hsystems, "hash"
            )
            self.checks["hash_incremental"] = check(hhub, herp1, herp2, hedits)
            self.phases += [h_initial, h_inc]

        self.judge(raw_initial, raw_inc, dlt_initial, dlt_inc)

    def judge(
        self, raw_initial: Phase, raw_inc: Phase, dlt_initial: Phase | None, dlt_inc: Phase | None
    ) -> None:
        initial: Phase | None = None
        for phase in self.phases:
            if not phase.name.startswith(("sync", "hash:")):
                continue
            raw = raw_initial if phase.kind == "initial" else raw_inc
            dlt = dlt_initial if phase.kind == "initial" else dlt_inc
            phase.ratio_raw = phase.seconds / raw.seconds
            phase.ratio_dlt = phase.seconds / dlt.seconds if dlt is not None else None
            memory_ok = phase.peak_mb < PEAK_MB
            if phase.kind == "initial":
                initial = phase
                speed_ok = phase.ratio_raw <= INITIAL_VS_RAW and (
                    phase.ratio_dlt is None or phase.ratio_dlt <= INITIAL_VS_DLT
                )
                phase.target = (
                    f"<={INITIAL_VS_RAW:g}x raw, <={INITIAL_VS_DLT:g}x dlt, <{PEAK_MB:g} MB"
                )
            else:
                assert initial is not None
                phase.ratio_initial = phase.seconds / initial.seconds
                speed_ok = phase.ratio_initial <= INCREMENTAL_VS_INITIAL
                phase.target = f"<={INCREMENTAL_VS_INITIAL:.0%} of initial, <{PEAK_MB:g} MB"
            phase.met = speed_ok and memory_ok

    # -- reporting -----------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        header = (
            f"{'phase':<22} {'seconds':>9} {'cpu s':>8} {'records':>8} {'rec/s':>9} {'peak MB':>8} "
            f"{'x raw':>7} {'x dlt':>7} {'x init':>7}  {'target':<38} met"
        )
        env = environment()
        env["source_changed_during_run"] = env["accord_source_digest"] != self.source_at_start
        print()
        print(f"accord from {env['accord_path']} (commit {env['accord_commit']}, ", end="")
        print(f"uncommitted changes: {env['accord_src_uncommitted_changes']})", end="")
        print(f"; label: {self.args.label}" if self.args.label else "")
        if env["source_changed_during_run"]:
            print("WARNING: accord's source changed during the run; the figures mix versions")
        print(
            f"{self.stats.customers} companies, {self.stats.contacts} contacts "
            f"({self.stats.links} contact pairs), batch size {self.args.batch_size}; "
            f"{env['cpus']} CPUs, 1-minute load average {_fmt(self.load_at_start)} at start, "
            f"{_fmt(env['load_average_1m'])} at end"
        )
        print(header)
        print("-" * len(header))
        for p in self.phases:
            print(
                f"{p.name:<22} {p.seconds:>9.2f} {p.cpu_seconds:>8.2f} {p.records:>8} {p.per_second:>9.0f} "
                f"{p.peak_mb:>8.0f} {_fmt(p.ratio_raw):>7} {_fmt(p.ratio_dlt):>7} "
                f"{_pct(p.ratio_initial):>7}  {p.target:<38} "
                f"{'' if p.met is None else ('yes' if p.met else 'NO')}"
            )
        print()
        print("where the sync time goes (seconds; pull includes its deletion scan):")
        for p in self.phases:
            for system, result in p.detail.items() if isinstance(p.detail, dict) else ():
                if not isinstance(result, dict) or "steps" not in result:
                    continue
                steps = ", ".join(f"{k} {v:.1f}" for k, v in sorted(result["steps"].items()))
                print(f"  {p.name:<20} {system}: {result['seconds']:.1f} s  [{steps}]")
        print()
        for name, result in self.checks.items():
            status = "ok" if result["ok"] else "MISMATCH"
            shown = {k: v for k, v in result.items() if k != "ok"}
            print(f"check {name}: {status} {shown}")
        results = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": {**env, "load_average_1m_at_start": self.load_at_start},
            "arguments": vars(self.args),
            "dataset": asdict(self.stats),
            "phases": [{**asdict(p), "records_per_second": p.per_second} for p in self.phases],
            "checks": self.checks,
            "targets": {
                "initial_vs_raw_copy_max": INITIAL_VS_RAW,
                "initial_vs_dlt_max": INITIAL_VS_DLT,
                "incremental_vs_initial_max": INCREMENTAL_VS_INITIAL,
                "peak_mb_max": PEAK_MB,
            },
            "all_targets_met": all(p.met for p in self.phases if p.met is not None),
            "all_checks_ok": all(c["ok"] for c in self.checks.values()),
        }
        return results


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def accord_source() -> tuple[Path, str]:
    """Where the accord package being measured lives, and a digest of its Python files.

    Every phase's process imports accord afresh, so an edit under src/ during a run
    would be measured half-way: the digest is compared at the end.
    """
    import accord

    root = Path(accord.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return root, digest.hexdigest()[:16]


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def environment() -> dict[str, Any]:
    root, digest = accord_source()
    commit = _git(root, "rev-parse", "--short", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain", "--", ".")) if commit else None
    return {
        "accord_path": str(root),
        "accord_commit": commit or None,  # None: not in a git work tree (e.g. a snapshot)
        "accord_src_uncommitted_changes": dirty,
        "accord_source_digest": digest,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Other work on the machine skews the timings; the 1-minute load says how much.
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=300_000, help="CONTACTS rows")
    parser.add_argument("--batch-size", type=int, default=1000, help="SystemConfig.batch_size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="where the databases go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt baseline")
    parser.add_argument("--no-hash", action="store_true", help="skip the hash-detection run")
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="sync erp1 then erp2 (accord sync --one-at-a-time), not both at once",
    )
    parser.add_argument(
        "--profile-dir", help="write a cProfile file per sync run here (with --one-at-a-time)"
    )
    parser.add_argument("--results", default=str(DEFAULT_RESULTS), help="JSON results path")
    parser.add_argument("--label", help="free text saved with the results, e.g. the commit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # inherited by the dlt process
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=False)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    bench = Bench(args, workdir)
    bench.load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        bench.run()
        results = bench.report()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults written to {path}")
    return 0 if results["all_checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
