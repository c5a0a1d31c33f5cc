"""A generated MYOB Exo-shaped ERP database (for ``accord demo``, tests and benchmarks).

The tables carry Exo's real names, columns and lengths (``STAFF``, ``DR_ACCS``,
``CONTACTS``, ``DR_CONTACTS``) and the data has the awkward parts real Exo databases
have: a contact shared between customers through ``DR_CONTACTS``, two contacts of one
customer whose names differ only in case or spaces, a malformed email, inactive rows.
``ExoEditor`` then edits it the way a head-office user would, stamping ``LAST_UPDATED``.

Times are naive UTC datetimes, as Exo's SQL Server columns hold them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from accord.clock import Clock, SystemClock
from accord.sandbox.fake_data import COPIED_COLUMNS, ExoRows
from accord.store.database import make_system_engine

metadata = MetaData()


def _str_cols(prefix: str, count: int, length: int) -> list[Column[Any]]:
    return [Column(f"{prefix}{i}", String(length)) for i in range(1, count + 1)]


def _money(name: str) -> Column[Decimal]:
    return Column(name, Numeric(18, 2), nullable=False, default=0, server_default="0")


STAFF = Table(
    "STAFF",
    metadata,
    Column("STAFFNO", Integer, primary_key=True, autoincrement=True),
    Column("NAME", String(30)),
    Column("EMAIL", String(60)),
    Column("ISACTIVE", CHAR(1), nullable=False, default="Y", server_default="Y"),
    Column("LAST_UPDATED", DateTime, index=True),
)

DR_ACCS = Table(
    "DR_ACCS",
    metadata,
    Column("ACCNO", Integer, primary_key=True, autoincrement=True),
    Column("NAME", String(60)),
    Column("PHONE", String(30)),
    Column("FAX", String(30)),
    Column("EMAIL", String(60)),
    Column("WEBSITE", String(60)),
    Column("SALESNO", Integer),
    *_str_cols("ADDRESS", 5, 30),
    Column("POST_CODE", String(12)),
    Column("ISACTIVE", CHAR(1), nullable=False, default="Y", server_default="Y"),
    Column("LAST_UPDATED", DateTime, index=True),
    Column("STATEMENT_CONTACT_SEQNO", Integer),
    Column("HEAD_ACCNO", Integer),
    Column("ALPHACODE", String(20)),
    _money("BALANCE"),
    *[_money(f"AGEDBAL{i}") for i in range(4)],
    Column("X_ACCORD_ID", String(64), index=True),  # markers are looked up in batches
)

CONTACTS = Table(
    "CONTACTS",
    metadata,
    Column("SEQNO", Integer, primary_key=True, autoincrement=True),
    Column("SALUTATION", String(4)),
    Column("FIRSTNAME", String(30)),
    Column("LASTNAME", String(30)),
    Column("TITLE", String(30)),
    Column("DIRECTPHONE", String(30)),
    Column("MOBILE", String(30)),
    Column("DIRECTFAX", String(30)),
    Column("HOMEPHONE", String(30)),
    Column("EMAIL", String(60)),
    Column("NOTES", String(4096)),
    *_str_cols("ADDRESS", 5, 30),
    Column("POST_CODE", String(12)),
    Column("ISACTIVE", CHAR(1), nullable=False, default="Y", server_default="Y"),
    Column("COMPANY_ACCNO", Integer, index=True),
    Column("LAST_UPDATED", DateTime, index=True),
    Column("X_ACCORD_ID", String(64), index=True),  # markers are looked up in batches
)

DR_CONTACTS = Table(
    "DR_CONTACTS",
    metadata,
    Column("SEQNO", Integer, primary_key=True, autoincrement=True),
    Column("ACCNO", Integer, nullable=False),
    Column("CONTACT_SEQNO", Integer, nullable=False),
    Column("DEFCONTACT", CHAR(1), nullable=False, default="N", server_default="N"),
    Column("FIRSTNAME", String(30)),
    Column("LASTNAME", String(30)),
    Column("DIRECTPHONE", String(30)),
    UniqueConstraint("ACCNO", "CONTACT_SEQNO", name="UQ_DR_CONTACTS_ACC_CONTACT"),
    Index("IX_DR_CONTACTS_ACCNO", "ACCNO"),
    Index("IX_DR_CONTACTS_CONTACT_SEQNO", "CONTACT_SEQNO"),
)

_CHUNK = 5000
_TABLES = (STAFF, DR_ACCS, CONTACTS, DR_CONTACTS)
_KEYS = ("STAFFNO", "ACCNO", "SEQNO", "SEQNO")


def create_schema(engine: Engine) -> None:
    """The Exo tables; a sandbox SQLite file is put in WAL mode, as its owner (us) chooses,
    so the demo's web app can read it while a sync writes. Accord's connector never changes
    a system's journal mode: a customer's file stays as its owner set it."""
    metadata.create_all(engine)
    if engine.dialect.name == "sqlite":
        # Outside any transaction (SQLite refuses to switch to WAL inside one).
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
        finally:
            raw.close()


@dataclass
class ExoSandboxStats:
    customers: int
    contacts: int
    links: int
    shared_contacts: int
    duplicate_name_pairs: int
    invalid_emails: int
    salespersons: int


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _fit(table: Table, rows: list[dict[str, Any]]) -> None:
    """Truncate every string to its column's length, as an import into Exo would have."""
    limits = [
        (c.name, c.type.length)
        for c in table.columns
        if isinstance(c.type, String) and c.type.length is not None
    ]
    for row in rows:
        for name, length in limits:
            value = row[name]
            if value is not None and len(value) > length:
                row[name] = value[:length]


def generate(
    url_or_engine: str | Engine,
    *,
    customers: int = 2000,
    contacts: int = 5000,
    seed: int = 7,
    clock: Clock | None = None,
    shared_fraction: float = 0.03,
    duplicate_fraction: float = 0.01,
    invalid_emails: int = 1,
    salespersons: int = 12,
) -> ExoSandboxStats:
    """Fill an empty Exo-shaped database; ``contacts`` is the number of CONTACTS rows.

    Each customer gets 1-5 contacts of its own (``COMPANY_ACCNO``, one ``DEFCONTACT='Y'``);
    if ``contacts < customers`` the last customers get none. Raises ``ValueError`` on
    impossible sizes or if the tables already hold rows. An engine passed in stays open.
    """
    if min(customers, contacts, invalid_emails, salespersons) < 0:
        raise ValueError("sizes must not be negative")
    if contacts > 5 * customers:
        raise ValueError("at most 5 contacts per customer: contacts > 5 * customers")
    if invalid_emails > contacts:
        raise ValueError("invalid_emails exceeds contacts")
    now = _naive_utc((clock or SystemClock()).now())
    rows = ExoRows(random.Random(seed), now, customers, contacts, salespersons)
    rows.build(shared_fraction, duplicate_fraction, invalid_emails)
    engine = make_system_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        create_schema(engine)
        with engine.begin() as conn:
            for table in _TABLES:
                if conn.execute(select(func.count()).select_from(table)).scalar_one():
                    raise ValueError(f"{table.name} already holds rows; generate needs it empty")
            table_rows = (rows.staff, rows.customers, rows.contacts, rows.links)
            for table, batch in zip(_TABLES, table_rows, strict=True):
                _fit(table, batch)
                for start in range(0, len(batch), _CHUNK):
                    conn.execute(insert(table), batch[start : start + _CHUNK])
            if conn.dialect.name == "postgresql":
                _advance_sequences(conn)
    finally:
        if engine is not url_or_engine:
            engine.dispose()
    return ExoSandboxStats(
        customers=len(rows.customers),
        contacts=len(rows.contacts),
        links=len(rows.links),
        shared_contacts=rows.shared_contacts,
        duplicate_name_pairs=rows.duplicate_name_pairs,
        invalid_emails=invalid_emails,
        salespersons=len(rows.staff),
    )


def _advance_sequences(conn: Connection) -> None:
    """Rows went in with explicit keys; move PostgreSQL's serial sequences past them."""
    for table, key in zip(_TABLES, _KEYS, strict=True):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{key}'), "
                f'COALESCE((SELECT MAX("{key}") FROM "{table.name}"), 0) + 1, false)'
            )
        )


def _key(table: Table, value: int) -> ColumnElement[bool]:
    """``table.<primary key> == value``."""
    return table.primary_key.columns.values()[0] == value


class ExoEditor:
    """Edits the sandbox like a head-office Exo user; every save stamps ``LAST_UPDATED``.

    Column names are Exo's (any case). Unknown columns and values longer than their column
    raise ``ValueError`` (SQL Server refuses those too); a missing row raises ``KeyError``.
    An engine passed in is left open by ``close``; one opened from a URL is disposed.
    """

    def __init__(self, url_or_engine: str | Engine, clock: Clock | None = None) -> None:
        self._owned = isinstance(url_or_engine, str)
        self.engine = (
            make_system_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        )
        self.clock = clock or SystemClock()

    def _now(self) -> datetime:
        return _naive_utc(self.clock.now())

    def _values(self, table: Table, columns: Mapping[str, object]) -> dict[str, object]:
        values: dict[str, object] = {}
        for given, value in columns.items():
            column = table.columns.get(given.upper())
            if column is None or column.primary_key:
                raise ValueError(f"{table.name} has no editable column {given!r}")
            length = getattr(column.type, "length", None)
            if isinstance(value, str) and length is not None and len(value) > length:
                raise ValueError(f"{table.name}.{column.name} holds {length} characters: {value!r}")
            values[column.name] = _naive_utc(value) if isinstance(value, datetime) else value
        values.setdefault("LAST_UPDATED", self._now())
        return values

    def _update(self, conn: Connection, table: Table, key: int, values: dict[str, object]) -> None:
        if conn.execute(update(table).where(_key(table, key)).values(values)).rowcount == 0:
            raise KeyError(f"no {table.name} row {key}")

    def update_contact(self, seqno: int, **columns: object) -> None:
        """Save a contact; the name and phone copies in DR_CONTACTS follow, as Exo does."""
        values = self._values(CONTACTS, columns)
        with self.engine.begin() as conn:
            self._update(conn, CONTACTS, seqno, values)
            copies = select(*(CONTACTS.c[name] for name in COPIED_COLUMNS))
            row = conn.execute(copies.where(_key(CONTACTS, seqno))).one()
            links = update(DR_CONTACTS).where(DR_CONTACTS.c["CONTACT_SEQNO"] == seqno)
            conn.execute(links.values(**row._mapping))

    def update_customer(self, accno: int, **columns: object) -> None:
        values = self._values(DR_ACCS, columns)
        with self.engine.begin() as conn:
            self._update(conn, DR_ACCS, accno, values)

    def deactivate_contact(self, seqno: int) -> None:
        self.update_contact(seqno, ISACTIVE="N")

    def delete_contact(self, seqno: int) -> None:
        """Remove the contact and its links; statements addressed to it lose their contact."""
        with self.engine.begin() as conn:
            conn.execute(delete(DR_CONTACTS).where(DR_CONTACTS.c["CONTACT_SEQNO"] == seqno))
            if conn.execute(delete(CONTACTS).where(_key(CONTACTS, seqno))).rowcount == 0:
                raise KeyError(f"no CONTACTS row {seqno}")
            conn.execute(
                update(DR_ACCS)
                .where(DR_ACCS.c["STATEMENT_CONTACT_SEQNO"] == seqno)
                .values(STATEMENT_CONTACT_SEQNO=None, LAST_UPDATED=self._now())
            )

    def add_contact(self, accno: int, **columns: object) -> int:
        """A new contact of ``accno``; ``DEFCONTACT='Y'`` (or being the first) makes it primary."""
        flag = next((columns.pop(k) for k in list(columns) if k.upper() == "DEFCONTACT"), None)
        values = {"ISACTIVE": "Y", "COMPANY_ACCNO": accno, **self._values(CONTACTS, columns)}
        with self.engine.begin() as conn:
            if conn.execute(select(DR_ACCS.c["ACCNO"]).where(_key(DR_ACCS, accno))).first() is None:
                raise KeyError(f"no DR_ACCS row {accno}")
            created = conn.execute(insert(CONTACTS).values(values)).inserted_primary_key
            assert created is not None
            seqno = int(created[0])
            self._link(conn, seqno, accno, None if flag is None else flag in (True, "Y", "y"))
        return seqno

    def link_contact(self, seqno: int, accno: int, *, default: bool = False) -> None:
        """Share an existing contact with another account (a new DR_CONTACTS row)."""
        with self.engine.begin() as conn:
            self._link(conn, seqno, accno, default)

    def set_default_contact(self, accno: int, seqno: int) -> None:
        """Make ``seqno`` the account's primary contact; contacts whose flag moved are stamped."""
        links = DR_CONTACTS.c
        with self.engine.begin() as conn:
            query = select(links["CONTACT_SEQNO"], links["DEFCONTACT"])
            flags = {r[0]: r[1] for r in conn.execute(query.where(links["ACCNO"] == accno))}
            if seqno not in flags:
                raise KeyError(f"contact {seqno} is not linked to account {accno}")
            moved = [s for s, flag in flags.items() if (flag == "Y") != (s == seqno)]
            for other in moved:
                conn.execute(
                    update(DR_CONTACTS)
                    .where(links["ACCNO"] == accno, links["CONTACT_SEQNO"] == other)
                    .values(DEFCONTACT="Y" if other == seqno else "N")
                )
            stamp = update(CONTACTS).where(CONTACTS.c["SEQNO"].in_(moved))
            conn.execute(stamp.values(LAST_UPDATED=self._now()))

    def _link(self, conn: Connection, seqno: int, accno: int, default: bool | None) -> None:
        row = conn.execute(select(CONTACTS).where(_key(CONTACTS, seqno))).first()
        if row is None:
            raise KeyError(f"no CONTACTS row {seqno}")
        links = DR_CONTACTS.c
        count = select(func.count()).where(links["ACCNO"] == accno)
        if conn.execute(count.where(links["CONTACT_SEQNO"] == seqno)).scalar_one():
            raise ValueError(f"contact {seqno} is already linked to account {accno}")
        if default is None:
            default = conn.execute(count).scalar_one() == 0
        if default:
            conn.execute(update(DR_CONTACTS).where(links["ACCNO"] == accno).values(DEFCONTACT="N"))
        copies = {name: row._mapping[name] for name in COPIED_COLUMNS}
        flag = "Y" if default else "N"
        conn.execute(
            insert(DR_CONTACTS).values(ACCNO=accno, CONTACT_SEQNO=seqno, DEFCONTACT=flag, **copies)
        )

    def _one(self, table: Table, key: int) -> dict[str, object] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(_key(table, key))).first()
        return dict(row._mapping) if row else None

    def contact(self, seqno: int) -> dict[str, object] | None:
        return self._one(CONTACTS, seqno)

    def customer(self, accno: int) -> dict[str, object] | None:
        return self._one(DR_ACCS, accno)

    def contacts_of(self, accno: int) -> list[dict[str, object]]:
        """The account's contacts through DR_CONTACTS, in link order, each with DEFCONTACT."""
        links = DR_CONTACTS.c
        query = (
            select(CONTACTS, links["DEFCONTACT"])
            .join(DR_CONTACTS, links["CONTACT_SEQNO"] == CONTACTS.c["SEQNO"])
            .where(links["ACCNO"] == accno)
            .order_by(links["SEQNO"])
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def accounts_of(self, seqno: int) -> list[int]:
        """The accounts a contact is linked to through DR_CONTACTS."""
        links = DR_CONTACTS.c
        query = select(links["ACCNO"]).where(links["CONTACT_SEQNO"] == seqno)
        with self.engine.connect() as conn:
            return [int(accno) for accno in conn.execute(query.order_by(links["ACCNO"])).scalars()]

    def shared_contacts(self) -> list[int]:
        """SEQNOs of contacts linked to two or more accounts."""
        links = DR_CONTACTS.c
        query = (
            select(links["CONTACT_SEQNO"])
            .group_by(links["CONTACT_SEQNO"])
            .having(func.count(func.distinct(links["ACCNO"])) >= 2)
            .order_by(links["CONTACT_SEQNO"])
        )
        with self.engine.connect() as conn:
            return [int(seqno) for seqno in conn.execute(query).scalars()]

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()
