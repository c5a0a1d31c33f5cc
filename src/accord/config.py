"""The configuration file (``accord.toml``): the hub database, systems, links, schedules.

Secrets never live in the file: a system's URL or credentials are read from the
environment variable the file names (``url_env``), so the file can be shared and
committed. A URL given directly must not carry a password.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from accord.clock import zone_named
from accord.errors import ConfigError


def _known_zone(value: str) -> str:
    try:
        zone_named(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return value


# An IANA time zone name, refused when the file loads if unknown.
ZoneName = Annotated[str, AfterValidator(_known_zone)]

DEFAULT_DIR = Path(".accord")
DEFAULT_CONFIG = Path("accord.toml")
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_PASSWORD_IN_URL = re.compile(r"://[^@]*:[^@]*@")
_PASSWORD_PARAMS = {"password", "passwd", "pwd", "pass"}

SyncMode = Literal["off", "import", "two-way"]
ConflictRuleName = Literal["record_lww", "field_lww", "priority", "hold"]


def carries_password(url: str) -> bool:
    """Whether a database or API URL holds a password (in its user part or its query)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return bool(_PASSWORD_IN_URL.search(url))
    query = {key.lower() for key in parsed.query}
    return parsed.password is not None or bool(query & _PASSWORD_PARAMS)


def shown_url(url: str) -> str:
    """A URL fit to print or log: any password replaced by ***."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return _PASSWORD_IN_URL.sub("://***@", url)
    hidden = {key: "***" for key in parsed.query if key.lower() in _PASSWORD_PARAMS}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


def anchored(url: str, base: Path | None) -> str:
    """A SQLite URL whose file path is relative, taken relative to ``base`` (the folder of
    the configuration file it was read from), not to wherever `accord` was started:
    `accord -c /srv/client/accord.toml` from another folder must open the same files."""
    if base is None or not url.startswith("sqlite"):
        return url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 15m, 1h, 30s, 1d)")
    number, unit = int(match.group(1)), match.group(2)
    if number == 0:
        raise ConfigError(
            f"a schedule of {text.strip()!r} would run without a pause: use 1s or more"
        )
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return timedelta(seconds=number * seconds)


IMMEDIATE = "immediate"
_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # "immediate": hub edits reach the system within seconds (S001-03), driven by the journal.
    push: str = "15m"  # hub -> system
    pull: str = "60m"  # system -> hub
    # HH:MM in the hub's time zone when the preset's nightly jobs run (S001-05)
    nightly: str = "02:00"

    @field_validator("push", "pull")
    @classmethod
    def _valid(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()  # kept as written, so the file stays valid when saved again
        if value == IMMEDIATE and info.field_name == "push":
            return value
        try:
            parse_duration(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("nightly")
    @classmethod
    def _valid_time(cls, value: str) -> str:
        value = value.strip()
        if not _CLOCK_TIME.fullmatch(value):
            raise ValueError(f"not a time of day: {value!r} (use HH:MM, e.g. 02:00)")
        return value


class SystemConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str  # connector kind: sql, memory, ...
    preset: str | None = None  # tables and mapping from a preset profile, e.g. "exo"
    url: str | None = None
    url_env: str | None = None  # name of the environment variable holding the URL
    sync: SyncMode = "off"  # two-way sync is off until an admin enables it (S000-01)
    conflict: ConflictRuleName | None = None  # overrides the preset's rule
    schedule: Schedule = Field(default_factory=Schedule)
    batch_size: int = Field(default=1000, ge=1, le=50_000)
    region: str = "NZ"  # for phone numbers written without a country code
    # The IANA zone of the date-times a SQL system stores without one: Exo's LAST_UPDATED
    # is its SQL Server's local time. Modified times decide last-writer-wins conflicts.
    time_zone: ZoneName = "UTC"
    # This system's account numbers are the hub's account codes (and so a key to match
    # on). Off for a further system with numbering of its own: its records are then
    # linked only through the hub (creates carry a marker), never by number.
    owns_codes: bool = True
    # Preset-specific settings (switches, ids); the preset validates them.
    options: dict[str, Any] = Field(default_factory=dict)
    # Names of environment variables holding secrets (API keys, client secrets), by role.
    secrets_env: dict[str, str] = Field(default_factory=dict)
    _base: Path | None = PrivateAttr(default=None)  # the configuration file's folder

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        # Caught when the file loads, not at every scheduling look (where one system's
        # typo would stop the schedule of every other).
        if value is not None:
            from accord.presets import preset

            try:
                preset(value)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and carries_password(value):
            raise ValueError("a URL with a password belongs in the environment: use url_env")
        return value

    def resolved_url(self, name: str) -> str:
        if self.url_env:
            value = os.environ.get(self.url_env)
            if not value:
                raise ConfigError(f"environment variable {self.url_env} is not set", system=name)
            return value
        if self.url:
            return anchored(self.url, self._base)
        raise ConfigError("no url or url_env given", system=name)

    def resolved_secret(self, name: str, role: str) -> str:
        """A secret by role (e.g. "api_key"), read from the environment variable named for it."""
        variable = self.secrets_env.get(role)
        if not variable:
            raise ConfigError(f"secrets_env.{role} names no environment variable", system=name)
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"environment variable {variable} ({role}) is not set", system=name)
        return value


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Empty: the hub is only where database_env says (`accord init` under that variable),
    # so a shell or cron job without it is refused, not given an empty SQLite hub.
    database: str = f"sqlite:///{DEFAULT_DIR}/hub.db"
    database_env: str | None = "ACCORD_DATABASE_URL"
    # The business's IANA zone: the calendar day of a sale a till posts in UTC, for visit
    # counts and the history's dates (10:00 in Auckland is that day, not the UTC day before).
    time_zone: ZoneName = "UTC"
    # The environment variable holding a token `/metrics` then asks for (as a bearer
    # token); unset, `/metrics` is open, for a monitoring network.
    metrics_token_env: str | None = "ACCORD_METRICS_TOKEN"
    _base: Path | None = PrivateAttr(default=None)  # the configuration file's folder

    @field_validator("database")
    @classmethod
    def _no_password(cls, value: str) -> str:
        if carries_password(value):
            raise ValueError(
                "a database URL with a password belongs in the environment: set"
                " ACCORD_DATABASE_URL (or the variable database_env names)"
            )
        return value

    @model_validator(mode="after")
    def _some_database(self) -> HubConfig:
        if not self.database and not self.database_env:
            raise ValueError("no hub database: set database, or database_env to a variable")
        return self

    def metrics_token(self) -> str | None:
        if not self.metrics_token_env:
            return None
        return os.environ.get(self.metrics_token_env) or None

    def resolved_url(self) -> str:
        # An empty database_env means: take the file's database, whatever the environment says.
        if self.database_env and os.environ.get(self.database_env):
            return os.environ[self.database_env]
        if not self.database:
            raise ConfigError(
                f"the hub database is the one environment variable {self.database_env} names"
                " (hub.database_env in the configuration), and it is not set here"
            )
        return anchored(self.database, self._base)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hub: HubConfig = Field(default_factory=HubConfig)
    systems: dict[str, SystemConfig] = Field(default_factory=dict)
    path: Path | None = None

    @model_validator(mode="after")
    def _one_owner_of_codes(self) -> Config:
        owners = [n for n, s in self.systems.items() if s.owns_codes and s.sync != "off"]
        if len(owners) > 1:
            raise ValueError(
                f"systems {', '.join(owners)} all own account codes: each would overwrite the"
                " hub's codes with its own numbering; set owns_codes = false on all but one"
            )
        return self

    def system(self, name: str) -> SystemConfig:
        try:
            return self.systems[name]
        except KeyError:
            known = ", ".join(self.systems) or "none"
            raise ConfigError(
                f"no system named {name!r} in the configuration (known: {known})"
            ) from None


def load(path: Path = DEFAULT_CONFIG) -> Config:
    if not path.exists():
        raise ConfigError(f"{path} not found: run `accord init` first")
    return loads(path.read_text(), path)


def loads(text: str, path: Path) -> Config:
    """The configuration in ``text``, as if read from the file at ``path``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    config.path = path
    base = path.resolve().parent
    config.hub._base = base
    for system in config.systems.values():
        system._base = base
    return config


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def render(config: Config) -> str:
    """The configuration as TOML, every setting included (nothing is lost on a save)."""
    hub: dict[str, Any] = {"database": config.hub.database, "time_zone": config.hub.time_zone}
    # Written out where it is the only source of the hub, so the file says so.
    if config.hub.database_env != HubConfig().database_env or not config.hub.database:
        hub["database_env"] = config.hub.database_env or ""
    systems = {
        name: {
            k: v for k, v in system.model_dump(mode="json", exclude_none=True).items() if v != {}
        }
        for name, system in config.systems.items()
    }
    return tomli_w.dumps({"hub": hub, "systems": systems})


def save(config: Config, path: Path) -> None:
    """Write the configuration atomically: a crash mid-write leaves the old file whole."""
    text = render(config)
    Config.model_validate(tomllib.loads(text))  # never write a file that would not load
    replace_text(path, text)


def replace_text(path: Path, text: str) -> None:
    """Put ``text`` in the file at ``path`` by a rename: readers see the old or the new."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
