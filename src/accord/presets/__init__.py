"""Preset profiles: a known system's tables (or resources) together with their mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.errors import ConfigError
from accord.mapping.profile import Profile

if TYPE_CHECKING:
    from accord.config import Config

# A job a preset runs once a night for a system (e.g. S001-05's account-manager fix):
# given the configuration and the system's name, it does its work and says what it did.
NightlyJob = Callable[["Config", str], str]


@dataclass
class Preset:
    name: str
    description: str
    profile: Callable[..., Profile]
    tables: Callable[[], list[Any]]  # the connector's table/resource declarations
    # Jobs the scheduler runs nightly for every enabled system on this preset, by name.
    nightly_jobs: dict[str, NightlyJob] = field(default_factory=dict)
    # The on/off options (``options = {...}``) an admin may flip in the settings page,
    # each with its value when the configuration does not set it.
    switches: dict[str, bool] = field(default_factory=dict)


def preset(name: str) -> Preset:
    from accord.presets import exact, exo, unleashed

    known = {p.name: p for p in (exo.PRESET, unleashed.PRESET, exact.PRESET)}
    try:
        return known[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(known)}") from None
