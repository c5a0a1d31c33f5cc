"""Jobs per minute with 1, 2 and 3 `accord worker` processes on 20 sandbox links.

Run from the repository root (needs PostgreSQL)::

    .venv/bin/python bench/jobs_bench.py
    .venv/bin/python bench/jobs_bench.py --jobs 60 --workers 1 2   # quicker

For each worker count: a fresh PostgreSQL schema as the hub, 20 fresh Exo-shaped sandbox
ERPs (SQLite files), the workers started and left to do the first sync of every link
(not timed). Then the same batch of sync jobs (pull and push of every link, round after
round) is queued at once and timed from queueing to the last job's end. The figure is
jobs per minute; the ratio is to the one-worker figure measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from accord.jobs.worker import SYNC_QUEUE, SYNC_TASK, conninfo
from accord.sandbox.exo import generate
from accord.store.database import normalise_url

LINKS = 20
ACCORD = str(Path(sys.executable).with_name("accord"))
PLAIN = {"shared_fraction": 0.0, "duplicate_fraction": 0.0, "invalid_emails": 0, "salespersons": 2}


def write_links(folder: Path, hub_url: str, customers: int, contacts: int) -> Path:
    lines = ["[hub]", f'database = "{hub_url}"', 'database_env = ""', ""]
    for i in range(LINKS):
        url = f"sqlite:///{folder / f'erp{i:02d}.db'}"
        generate(url, customers=customers, contacts=contacts, seed=100 + i, **PLAIN)  # type: ignore[arg-type]
        lines += [
            f"[systems.erp{i:02d}]",
            'kind = "sql"',
            'preset = "exo"',
            f'url = "{url}"',
            'sync = "two-way"',
            f"owns_codes = {'true' if i == 0 else 'false'}",
            f"[systems.erp{i:02d}.schedule]",
            'push = "1h"',  # the timed jobs are queued by the bench, not the schedule
            'pull = "1h"',
            "",
        ]
    path = folder / "accord.toml"
    path.write_text("\n".join(lines))
    return path


def unfinished(engine_url: str) -> int:
    engine = create_engine(normalise_url(engine_url))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"
                        " AND status IN ('todo', 'doing')"
                    ),
                    {"t": SYNC_TASK},
                ).scalar_one()
            )
    except Exception:
        return -1  # schema not there yet
    finally:
        engine.dispose()


def queue_jobs(hub_url: str, count: int) -> None:
    """Queue ``count`` sync jobs at once, round-robin over the links, pull then push."""
    import logging

    import procrastinate

    # Deferring from a script's own App is intended here; keep its advice out of the output.
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(hub_url))
    )
    with app.open():
        for n in range(count):
            system = f"erp{n % LINKS:02d}"
            direction = ("pull", "push")[(n // LINKS) % 2]
            app.configure_task(SYNC_TASK, queue=SYNC_QUEUE, lock=f"link:{system}").defer(
                system=system, direction=direction
            )


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for {what}")


def measure(workers: int, jobs: int, pg_url: str, customers: int, contacts: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(pg_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in pg_url else "?"
    hub_url = f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="accord-jobs-bench-") as tmp:
            folder = Path(tmp)
            write_links(folder, hub_url, customers, contacts)
            env = {**os.environ, "ACCORD_DATABASE_URL": ""}
            for _ in range(workers):
                procs.append(
                    subprocess.Popen(
                        [ACCORD, "worker", "--tick", "1"],
                        cwd=folder,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            # The first sync of every link (queued by the schedule) is not timed.
            wait(lambda: unfinished(hub_url) == 0, 600, "the first syncs")
            time.sleep(1.5)
            wait(lambda: unfinished(hub_url) == 0, 600, "the first syncs")
            started = time.monotonic()
            queue_jobs(hub_url, jobs)
            wait(lambda: unfinished(hub_url) == 0, 1800, "the timed jobs")
            elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return jobs / elapsed * 60


def load_average() -> str:
    """The machine's 1-minute load average: the figures mean little on a busy machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=120, help="timed jobs per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--customers", type=int, default=3, help="customers per sandbox ERP")
    parser.add_argument("--contacts", type=int, default=6, help="contacts per sandbox ERP")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "ACCORD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL URL (a schema is created and dropped per measurement)",
    )
    args = parser.parse_args()
    print(f"{LINKS} links, {args.jobs} timed sync jobs per measurement, {os.cpu_count()} CPUs")
    figures: dict[int, float] = {}
    for count in args.workers:
        figures[count] = measure(count, args.jobs, args.database, args.customers, args.contacts)
        base = figures[args.workers[0]]
        print(
            f"{count} worker(s): {figures[count]:7.1f} jobs/min"
            f"  ratio to {args.workers[0]} worker(s): {figures[count] / base:.2f}"
            f"  (load average {load_average()})",
            flush=True,
        )


if __name__ == "__main__":
    main()
