"""Changing a system's integration settings (sync mode, switches, schedules) at run time.

The change is validated as a whole configuration (one owner of account codes; the
preset accepts the options) before it is taken, and written back to the configuration
file when there is one, so the next start sees it too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError

from accord import config as config_module
from accord.config import Config, SystemConfig
from accord.errors import ConfigError
from accord.presets import preset


def switches(system: SystemConfig) -> list[tuple[str, bool]]:
    """A system's on/off switches and their current values.

    The boolean options set in the configuration, and the switches its preset declares
    (``Preset.switches``, with their defaults), so an admin sees a switch before it was
    ever written to the file.
    """
    found = {k: v for k, v in system.options.items() if isinstance(v, bool)}
    if system.preset:
        for name, default in preset(system.preset).switches.items():
            found.setdefault(name, default)
    return sorted(found.items())


def update_system(
    settings: Config,
    name: str,
    *,
    sync: str | None = None,
    options: dict[str, Any] | None = None,
    push: str | None = None,
    pull: str | None = None,
) -> SystemConfig:
    current = settings.system(name)
    raw = current.model_dump()
    if sync is not None:
        raw["sync"] = sync
    if options is not None:
        raw["options"] = {**current.options, **options}
    if push is not None:
        raw["schedule"]["push"] = push
    if pull is not None:
        raw["schedule"]["pull"] = pull
    try:
        updated = SystemConfig.model_validate(raw)
        updated._base = current._base  # relative SQLite paths stay where the file put them
        systems = {**settings.systems, name: updated}
        Config.model_validate(
            {
                "hub": settings.hub.model_dump(),
                "systems": {k: v.model_dump() for k, v in systems.items()},
            }
        )
    except PydanticValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(reasons, system=name) from None
    if updated.preset:
        # The preset refuses options it does not know.
        preset(updated.preset).profile(
            region=updated.region, owns_codes=updated.owns_codes, options=updated.options
        )
    settings.systems[name] = updated
    if settings.path is not None:
        config_module.save(settings, settings.path)
    return updated
