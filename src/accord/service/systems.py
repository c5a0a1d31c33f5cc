"""Turning configuration into live things: the hub store, connectors and profiles."""

from __future__ import annotations

from dataclasses import replace

from accord.clock import Clock, SystemClock
from accord.config import Config
from accord.connectors import connector_class
from accord.connectors.base import Connector
from accord.errors import ConfigError
from accord.mapping.profile import Profile
from accord.presets import preset
from accord.store import HubStore


def open_hub(config: Config) -> HubStore:
    return HubStore(config.hub.resolved_url())


def open_system(config: Config, name: str, clock: Clock | None = None) -> tuple[Connector, Profile]:
    """The connector and the effective profile of a configured system."""
    system = config.system(name)
    clock = clock or SystemClock()
    if system.preset is None:
        raise ConfigError("a system needs a preset (tables and mapping)", system=name)
    chosen = preset(system.preset)
    kwargs: dict[str, object] = {
        "region": system.region,
        "owns_codes": system.owns_codes,
        "options": system.options,
    }
    if system.conflict:
        kwargs["conflict"] = system.conflict
    profile = chosen.profile(**kwargs)
    if system.sync == "import":
        # One-way import: the hub takes what the system has and never writes back.
        profile = Profile(profile.name, [replace(m, push=False) for m in profile.entities])
    cls = connector_class(system.kind)
    if system.kind == "sql":
        from accord.connectors.sql import SqlConnector

        connector: Connector = SqlConnector(
            name, system.resolved_url(name), chosen.tables(), clock, time_zone=system.time_zone
        )
    elif hasattr(cls, "from_config"):
        # Connectors to APIs build themselves from their settings and secrets.
        # Those that keep secrets (e.g. OAuth tokens) in the hub are told where it is.
        extra = (
            {"hub_url": config.hub.resolved_url()}
            if getattr(cls, "keeps_secrets_in_hub", False)
            else {}
        )
        connector = cls.from_config(name, system, clock, **extra)
    else:
        connector = cls(name)  # type: ignore[call-arg]
    return connector, profile
