"""Changing a system's integration settings (sync mode, switches, schedules) at run time.

A change names the keys it sets. It is validated as a whole configuration (one owner of
account codes; the preset accepts the options) before it is taken. With a configuration
file, only the keys that change are written, into the file as it is on disk now: its
other keys, comments and layout stay as they are (a `conflict = "hold"` added by hand
while the service runs is not undone by a save from the web app), and the next start
sees the change too.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, cast

import tomlkit
from pydantic import ValidationError as PydanticValidationError
from tomlkit.exceptions import TOMLKitError

from accord import config as config_module
from accord.config import Config, SystemConfig
from accord.errors import ConfigError
from accord.presets import preset

# A setting of a system: ("sync",), ("schedule", "push"), ("options", "address_sync").
Key = tuple[str, ...]


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


def changes(
    *,
    sync: str | None = None,
    options: Mapping[str, Any] | None = None,
    push: str | None = None,
    pull: str | None = None,
) -> dict[Key, Any]:
    """The settings given, by key (None: not given)."""
    found: dict[Key, Any] = {}
    if sync is not None:
        found[("sync",)] = sync
    if push is not None:
        found[("schedule", "push")] = push.strip()
    if pull is not None:
        found[("schedule", "pull")] = pull.strip()
    for name, value in (options or {}).items():
        found[("options", name)] = value
    return found


def update_system(
    settings: Config,
    name: str,
    *,
    sync: str | None = None,
    options: dict[str, Any] | None = None,
    push: str | None = None,
    pull: str | None = None,
    shown: Mapping[Key, Any] | None = None,
) -> SystemConfig:
    """Set the settings given; ``shown``: the values the admin saw when making the change
    (a form's). A setting left as shown is not written; one changed in the file since it
    was shown is refused rather than silently reverted."""
    wanted = changes(sync=sync, options=options, push=push, pull=pull)
    if settings.path is None:
        return _update_in_memory(settings, name, wanted, shown or {})
    return _update_file(settings, settings.path, name, wanted, shown or {})


def _update_in_memory(
    settings: Config, name: str, wanted: dict[Key, Any], shown: Mapping[Key, Any]
) -> SystemConfig:
    current = settings.system(name)
    taken = _taken(current, name, wanted, shown)
    raw = current.model_dump()
    for key, value in taken.items():
        _put(raw, key, value)
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
    _check_options(updated)
    settings.systems[name] = updated
    return updated


def _update_file(
    settings: Config, path: Path, name: str, wanted: dict[Key, Any], shown: Mapping[Key, Any]
) -> SystemConfig:
    text = path.read_text()
    on_disk = config_module.loads(text, path)  # a file that does not load is not saved over
    taken = _taken(on_disk.system(name), name, wanted, shown)
    if not taken:
        settings.systems[name] = on_disk.system(name)
        return settings.systems[name]
    try:
        document = tomlkit.parse(text)
        table = _table(_table(document, "systems"), name)
        for key, value in taken.items():
            _put(table, key, value)
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: {exc}", system=name) from exc
    written = tomlkit.dumps(document)
    updated = config_module.loads(written, path).system(name)  # refused before writing
    _check_options(updated)
    config_module.replace_text(path, written)
    settings.systems[name] = updated
    return updated


def _taken(
    current: SystemConfig, name: str, wanted: dict[Key, Any], shown: Mapping[Key, Any]
) -> dict[Key, Any]:
    """The settings that change: neither left as shown nor already so."""
    taken: dict[Key, Any] = {}
    for key, value in wanted.items():
        now = _value(current, key)
        if (key in shown and value == shown[key]) or value == now:
            continue
        if key in shown and now != shown[key]:
            raise ConfigError(
                f"{'.'.join(key)} was changed to {now!r} since the settings were shown:"
                " reload them and try again",
                system=name,
            )
        taken[key] = value
    return taken


def _value(system: SystemConfig, key: Key) -> Any:
    if key[0] == "options":
        return dict(switches(system)).get(key[1], system.options.get(key[1]))
    found: Any = system
    for part in key:
        found = getattr(found, part)
    return found


def _put(table: MutableMapping[str, Any], key: Key, value: Any) -> None:
    *parents, last = key
    for part in parents:
        if part not in table:
            table[part] = tomlkit.table()
        table = _table(table, part)
    table[last] = value


def _table(container: Mapping[str, Any], name: str) -> MutableMapping[str, Any]:
    found = container.get(name)
    if not isinstance(found, MutableMapping):
        raise ConfigError(f"{name} is not a table")
    return cast(MutableMapping[str, Any], found)


def _check_options(system: SystemConfig) -> None:
    if system.preset:
        # The preset refuses options it does not know.
        preset(system.preset).profile(
            region=system.region, owns_codes=system.owns_codes, options=system.options
        )
