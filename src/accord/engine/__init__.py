"""The sync engine: pull, match, reconcile, push. No HTTP and no SQL of its own."""

from accord.engine.context import SyncContext
from accord.engine.plan import Plan, PlannedChange
from accord.engine.run import sync

__all__ = ["Plan", "PlannedChange", "SyncContext", "sync"]
