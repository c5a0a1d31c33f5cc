"""Connectors to outside systems, behind one protocol (see ``base``)."""

from __future__ import annotations

from importlib.metadata import entry_points

from accord.connectors.base import Connector
from accord.errors import ConfigError

ENTRY_POINT_GROUP = "accord.connectors"


def connector_class(kind: str) -> type[Connector]:
    """Built-in and third-party connectors register the same way: an entry point."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == kind:
            loaded: type[Connector] = point.load()
            return loaded
    known = sorted(p.name for p in entry_points(group=ENTRY_POINT_GROUP))
    raise ConfigError(f"unknown connector kind {kind!r}; installed: {', '.join(known)}")
