"""Preset profiles: a known system's tables (or resources) together with their mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accord.errors import ConfigError
from accord.mapping.profile import Profile


@dataclass
class Preset:
    name: str
    description: str
    profile: Callable[..., Profile]
    tables: Callable[[], list[Any]]  # the connector's table/resource declarations


def preset(name: str) -> Preset:
    from accord.presets import exo

    known = {p.name: p for p in (exo.PRESET,)}
    try:
        return known[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(known)}") from None
