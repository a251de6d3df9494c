"""Legacy databases written by hand to the requirement documents' own schemas.

Not the project's sample generators: these are the tables the seeds describe (seed 000's
``users(email, password)`` with bcrypt, ``vouchers(date, amount, kwh, voucher_number)``,
``readings(date, reading)``; seed 002's workflows, credentials and logs), with the
constraints such apps declare inline (``REFERENCES … ON DELETE CASCADE``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import bcrypt
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

PASSWORD = "kettle-on-at-7"


def _serial(dialect: str) -> str:
    return "SERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"


def _real(dialect: str) -> str:
    return "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"


def electricity_ddl(dialect: str, *, user_fk: str = "ON DELETE CASCADE") -> list[str]:
    """Seed 000: the family electricity tracker as its Express app created it."""
    pk, real = _serial(dialect), _real(dialect)
    stamp = "TIMESTAMP" if dialect == "postgresql" else "DATETIME"
    ref = f"REFERENCES users(id) {user_fk}" if user_fk else ""
    return [
        f"CREATE TABLE users (id {pk}, email TEXT UNIQUE NOT NULL, password TEXT NOT NULL, "
        f"name TEXT, created_at {stamp} DEFAULT CURRENT_TIMESTAMP)",
        f"CREATE TABLE vouchers (id {pk}, user_id INTEGER NOT NULL {ref}, date TEXT NOT NULL, "
        f"amount {real} NOT NULL, kwh {real}, voucher_number TEXT, "
        f"created_at {stamp} DEFAULT CURRENT_TIMESTAMP)",
        f"CREATE TABLE readings (id {pk}, user_id INTEGER NOT NULL {ref}, date TEXT NOT NULL, "
        f"reading {real} NOT NULL, notes TEXT, created_at {stamp} DEFAULT CURRENT_TIMESTAMP)",
        "CREATE INDEX idx_readings_date ON readings(date)",
    ]


def workflows_ddl(dialect: str) -> list[str]:
    """Seed 002: workflows, credentials and logs owned by a user, cascading on delete."""
    pk = _serial(dialect)
    return [
        f"CREATE TABLE users (id {pk}, email TEXT NOT NULL, password_hash TEXT NOT NULL)",
        f"CREATE TABLE credentials (id {pk}, user_id INTEGER NOT NULL REFERENCES users(id) "
        "ON DELETE CASCADE, service_name TEXT NOT NULL, encrypted_key TEXT NOT NULL)",
        f"CREATE TABLE workflows (id {pk}, user_id INTEGER NOT NULL REFERENCES users(id) "
        "ON DELETE CASCADE, name TEXT NOT NULL, trigger_type TEXT, action_type TEXT, "
        "config_json TEXT, is_active BOOLEAN NOT NULL DEFAULT TRUE)",
        f"CREATE TABLE logs (id {pk}, workflow_id INTEGER REFERENCES workflows(id) "
        "ON DELETE CASCADE ON UPDATE CASCADE, credential_id INTEGER REFERENCES credentials(id) "
        "ON DELETE SET NULL, status TEXT NOT NULL, message TEXT)",
    ]


WORKFLOWS_MAPPING = """\
version = 1
[users]
table = "users"
email = "email"
password_hash = "password_hash"
[tables.credentials]
owner = "user_id"
[tables.workflows]
owner = "user_id"
[tables.logs]
owner = "workflow_id -> workflows"
"""


def electricity_mapping(**policies: str) -> str:
    lines = [
        "version = 1",
        "[users]",
        'table = "users"',
        'email = "email"',
        'password_hash = "password"',
        'display_name = "name"',
        "[tables.readings]",
        'owner = "user_id"',
        "[tables.vouchers]",
        'owner = "user_id"',
    ]
    if policies:
        lines.append("[policies]")
        lines += [f'{k} = "{v}"' for k, v in policies.items()]
        lines += ["[extra_tenants.unclaimed]", 'name = "Unclaimed"']
    return "\n".join(lines) + "\n"


def bcrypt_hash(password: str, prefix: bytes = b"2b") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode()


def django_pbkdf2(password: str, salt: str = "seasalt", iterations: int = 1000) -> str:
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(raw).decode()}"


def argon2_hash(password: str) -> str:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


USERS = [
    (1, "thandi@example.com", "bcrypt-2b", "Thandi"),
    (2, "ravi@example.com", "bcrypt-2y", "Ravi"),
    (3, "ana@example.com", "pbkdf2", "Ana"),
    (4, "li@example.com", "argon2", "Li"),
]


def password_for(kind: str) -> str:
    if kind == "bcrypt-2b":
        return bcrypt_hash(PASSWORD)
    if kind == "bcrypt-2y":  # PHP's prefix; the same algorithm as 2b
        return "$2y$" + bcrypt_hash(PASSWORD)[4:]
    if kind == "pbkdf2":
        return django_pbkdf2(PASSWORD)
    return argon2_hash(PASSWORD)


def build(url: str, ddl: Sequence[str], rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create the tables and insert ``rows`` (table -> dicts) with foreign keys unchecked."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
        for table, items in rows.items():
            for item in items:
                cols = ", ".join(item)
                conn.execute(
                    text(
                        f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in item)})"
                    ),
                    item,
                )
        if engine.dialect.name == "postgresql":
            for table in rows:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    engine.dispose()


def electricity_rows(*, dangling: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Four users (one per password format), readings and vouchers; optionally a reading
    of user 99, who does not exist."""
    users = [{"id": i, "email": e, "password": password_for(k), "name": n} for i, e, k, n in USERS]
    readings, vouchers = [], []
    rid = vid = 0
    for uid, *_ in USERS:
        for day in range(1, 6):
            rid += 1
            readings.append(
                {
                    "id": rid,
                    "user_id": uid,
                    "date": f"2026-03-{day:02d}",
                    "reading": 1000 + uid * 100 + day * 7.25,
                    "notes": None if day % 2 else "checked",
                }
            )
        for day in (2, 4):
            vid += 1
            vouchers.append(
                {
                    "id": vid,
                    "user_id": uid,
                    "date": f"2026-03-{day:02d}",
                    "amount": 150.5 * day,
                    "kwh": 62.5 * day,
                    "voucher_number": f"1234-5678-{vid:04d}",
                }
            )
    if dangling:
        readings.append(
            {"id": 900, "user_id": 99, "date": "2026-03-09", "reading": 5.0, "notes": None}
        )
    return {"users": users, "readings": readings, "vouchers": vouchers}


def add_not_valid_fk(url: str, table: str, column: str, parent: str, action: str) -> None:
    """PostgreSQL: a foreign key added NOT VALID after the fact, over rows that break it."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column} FOREIGN KEY ({column}) "
            f"REFERENCES {parent}(id) {action} NOT VALID"
        )
    engine.dispose()
