"""Write a sample database through one connection, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Connection

# Names that break naive code: quotes, unicode, emoji, SQL-looking text.
AWKWARD_NAMES = [
    "O'Brien",
    'Robert "Bobby" Tables',
    "Zoë Ångström",
    "Łukasz Żółć",
    "李小龍",
    "Renée 🔌",
    "x'); DROP TABLE users;--",
]
FIRST = ["Alice", "Bongani", "Chen", "Dineo", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jabu"]
LAST = ["Smith", "Nkosi", "Wang", "Mokoena", "Brown", "Haddad", "Kim", "Meyer", "Silva", "Dube"]
START = datetime(2023, 1, 1, tzinfo=UTC)


class Writer:
    """DDL with a few portable type names, and batched inserts with the right placeholders."""

    def __init__(self, conn: Connection, rng: random.Random) -> None:
        self.conn = conn
        self.rng = rng
        self.pg = conn.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}

    def create(self, ddl: str) -> None:
        if self.pg:
            ddl = ddl.replace(" BLOB", " BYTEA")
        self.conn.exec_driver_sql(ddl)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        mark = "%s" if self.pg else "?"
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(mark for _ in columns)})"
        )
        it: Iterator[Sequence[Any]] = iter(rows)
        while batch := list(islice(it, 20_000)):
            self.conn.exec_driver_sql(sql, [tuple(r) for r in batch])
            self.counts[table] = self.counts.get(table, 0) + len(batch)

    def stamp(self, days: float) -> Any:
        """A moment ``days`` after the start, as legacy apps store it ('YYYY-MM-DD HH:MM:SS')."""
        moment = START + timedelta(days=days)
        return moment.replace(tzinfo=None) if self.pg else moment.strftime("%Y-%m-%d %H:%M:%S")

    def day(self, days: float) -> Any:
        moment = (START + timedelta(days=days)).date()
        return moment if self.pg else moment.isoformat()

    def person(self, i: int) -> str:
        return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"


def user_rows(w: Writer, users: int, password_hash: str, *, awkward: bool) -> list[tuple[Any, ...]]:
    """``(id, email, password_hash, name, created_at)``; awkward: colliding emails, odd names."""
    rows: list[tuple[Any, ...]] = []
    for uid in range(1, users + 1):
        name = w.person(uid)
        email = f"{name.split()[0].lower()}.{uid}@example.com"
        if awkward and uid <= len(AWKWARD_NAMES):
            name = AWKWARD_NAMES[uid - 1]
        rows.append((uid, email, password_hash, name, w.stamp(uid / 10)))
    if awkward and users >= 3:
        # The same person registered twice, once with capitals and a stray space.
        rows[2] = (3, " " + rows[1][1].upper() + " ", password_hash, rows[2][3], rows[2][4])
    return rows
