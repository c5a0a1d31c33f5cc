"""Structured logs (structlog): one JSON object per line, carrying system and run id.

A job binds its system (and direction or nightly job) to the log context for its whole
length, and the run id the moment the engine opens the run row (see ``tasks``), so every
line logged while a run is in progress says which run it belongs to. Context variables are
per thread (and per asyncio task), so the runs of one process never mix up their ids.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars, unbind_contextvars

RUN_ID = "run_id"


def configure(
    json: bool = True,
    level: int = logging.INFO,
    *,
    stream: TextIO | None = None,
    stdlib_level: int | None = None,
) -> None:
    """Log structlog events to ``stream`` (stderr). ``stdlib_level``: also render the
    standard library's records from that level up (Procrastinate's, connectors') the same
    way, with the same context, instead of as plain text."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        # The process id tells apart the workers writing to one log.
        structlog.processors.CallsiteParameterAdder(
            [structlog.processors.CallsiteParameter.PROCESS]
        ),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    sink = stream or sys.stderr
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sink),
        cache_logger_on_first_use=False,
    )
    if stdlib_level is None:
        return
    handler = logging.StreamHandler(sink)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(stdlib_level)


@contextmanager
def job_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` to every log line of the block; a run id bound inside goes too."""
    tokens = bind_contextvars(**values)
    try:
        yield
    finally:
        unbind_contextvars(RUN_ID)
        reset_contextvars(**tokens)


def bind_run(run_id: int) -> None:
    bind_contextvars(**{RUN_ID: run_id})
