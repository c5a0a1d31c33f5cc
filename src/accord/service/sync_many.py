"""Syncing several systems at once: one process per system, pushes following pulls.

Run one after another, the second system's push waits for the whole of the first
system's pull, though each uses one core and touches a different outside system. Run
together, each system's push sends what the others' pulls write while they write it
(per entity, in the sync order), so a first load from one ERP into another takes little
more than the slower of the two. Each run still holds its own link's lock, writes the
hub in its own transactions and is as crash-safe as a run on its own.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from accord.config import Config
from accord.engine import Plan
from accord.errors import AccordError
from accord.model.entities import SYNC_ORDER
from accord.service.systems import open_hub

# (system, entity, phase, records done)
ManyProgress = Callable[[str, str, str, int], None]
_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Outcome:
    """How one system's run ended: its plan, or why it failed."""

    system: str
    plan: Plan | None
    error: str | None = None


def run_many(
    config: Config,
    names: Iterable[str],
    *,
    pull: bool = True,
    push: bool = True,
    progress: ManyProgress | None = None,
    full_read: bool = False,
) -> list[Outcome]:
    """Sync ``names`` together, one process each; outcomes in the order given.

    A system that fails (or whose process dies) is reported in its outcome; the others
    go on, and stop following its pulls.
    """
    systems = list(dict.fromkeys(names))
    # A new hub is made (its schema migrated) here, once: not by every process at once.
    open_hub(config).close()
    spawn = multiprocessing.get_context("spawn")
    # Lock-free on purpose: a process killed while holding a lock (a shared queue's, an
    # Event's) would hang every other. One byte per system and entity, written by its own
    # process (or by this one once it died); one pipe per process.
    pulled = spawn.RawArray("b", len(systems) * len(SYNC_ORDER))
    readers: dict[Connection, str] = {}
    processes: dict[str, Any] = {}
    for index, name in enumerate(systems):
        reader, writer = spawn.Pipe(duplex=False)
        processes[name] = process = spawn.Process(
            target=_child,
            args=(os.getpid(), config, systems, index, pulled, writer, pull, push, full_read),
            name=f"accord-sync-{name}",
            daemon=True,
        )
        process.start()
        writer.close()  # only the child's end stays open: its death reads as end of file
        readers[reader] = name
    outcomes: dict[str, Outcome] = {}
    try:
        while readers:
            for ready in wait(list(readers), timeout=_POLL_SECONDS):
                reader = cast(Connection, ready)  # wait() gives back what it was given
                name = readers[reader]
                try:
                    kind, payload = cast(tuple[str, Any], reader.recv())
                except EOFError:
                    del readers[reader]
                    if name not in outcomes:  # it died without a word (killed)
                        _mark_pulled(pulled, systems.index(name))
                        outcomes[name] = Outcome(name, None, _ended(processes[name]))
                    continue
                if kind == "progress" and progress is not None:
                    progress(name, *payload)
                elif kind == "done":
                    outcomes[name] = Outcome(name, payload)
                elif kind == "failed":
                    outcomes[name] = Outcome(name, None, payload)
    finally:
        for process in processes.values():
            process.join(timeout=10)
            if process.is_alive():  # only if this process was interrupted
                process.terminate()
    return [outcomes[name] for name in systems]


def _ended(process: Any) -> str:
    process.join(timeout=5)
    return f"the sync process ended without a result (exit code {process.exitcode})"


def _mark_pulled(pulled: Any, index: int) -> None:
    width = len(SYNC_ORDER)
    for position in range(index * width, (index + 1) * width):
        pulled[position] = 1


def _die_with_parent(parent: int) -> None:
    """End this process when the one that started it ends, even by SIGKILL: a run left
    behind would hold its link's lock and go on writing after `accord sync` is gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:  # elsewhere: look every half second

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="accord-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)


def _child(
    parent: int,
    config: Config,
    systems: list[str],
    index: int,
    pulled: Any,
    writer: Connection,
    pull: bool,
    push: bool,
    full_read: bool,
) -> None:
    _die_with_parent(parent)
    from accord.service.sync import run

    name, width = systems[index], len(SYNC_ORDER)
    others = [i for i in range(len(systems)) if i != index]
    at = {entity: n for n, entity in enumerate(SYNC_ORDER)}

    def upstream(entity: str) -> bool:
        return any(not pulled[other * width + at[entity]] for other in others)

    def done_pulling(entity: str) -> None:
        pulled[index * width + at[entity]] = 1

    def report(entity: str, phase: str, done: int) -> None:
        writer.send(("progress", (entity, phase, done)))

    try:
        plan = run(
            config,
            name,
            progress=report,
            pull=pull,
            push=push,
            follow=(upstream, done_pulling),
            full_read=full_read,
        )
        writer.send(("done", plan))
    except AccordError as exc:
        writer.send(("failed", str(exc)))
    except Exception as exc:  # reported to the parent, which shows it with the others
        writer.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        _mark_pulled(pulled, index)
        writer.close()
