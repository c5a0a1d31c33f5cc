"""Accord's exceptions, typed by what the caller should do next.

    AccordError
    ├── ConfigError            the configuration is wrong; a person must fix it
    ├── UnsupportedConfigurationError  the outside system is set up in a way we refuse to serve
    ├── RecordError            one record (and usually one field) is bad; others go on
    │   └── ValidationError    a value failed validation or normalisation
    └── ConnectorError         talking to an outside system failed
        ├── TransientError     retry later (timeouts, 429, 5xx, lost connections)
        └── PermanentError     retrying will not help until something changes

Each carries the system, entity, record key and field where known, so messages name them.
"""

from __future__ import annotations


class AccordError(Exception):
    def __init__(
        self,
        message: str,
        *,
        system: str | None = None,
        entity: str | None = None,
        key: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.entity = entity
        self.key = key
        self.field = field

    def __str__(self) -> str:
        where = [
            f"{label} {value}"
            for label, value in (
                ("system", self.system),
                ("entity", self.entity),
                ("record", self.key),
                ("field", self.field),
            )
            if value
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class ConfigError(AccordError):
    pass


class UnsupportedConfigurationError(AccordError):
    pass


class RecordError(AccordError):
    pass


class ValidationError(RecordError):
    pass


class ConnectorError(AccordError):
    pass


class TransientError(ConnectorError):
    pass


class PermanentError(ConnectorError):
    pass
