"""The personal-finance app (seed 004): accounts, transactions, and per-user categories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tenantry.migrate.samples.writer import Writer, user_rows

DEFAULT_CATEGORIES = ["Groceries", "Rent", "Transport", "Eating out"]


def generate(w: Writer, *, users: int, per_user: int, awkward: bool, password_hash: str) -> None:
    w.create(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "password_hash TEXT, name TEXT, created_at TIMESTAMP)"
    )
    w.create(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
        "REFERENCES users(id), name TEXT NOT NULL, type TEXT NOT NULL, currency TEXT "
        "NOT NULL, balance_cents INTEGER NOT NULL)"
    )
    # user_id NULL: the app's built-in categories, shared by everyone who used them.
    w.create(
        "CREATE TABLE categories (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES "
        "users(id), name TEXT NOT NULL, parent_id INTEGER REFERENCES categories(id))"
    )
    w.create(
        "CREATE TABLE transactions (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, "
        "category_id INTEGER REFERENCES categories(id), amount_cents INTEGER NOT NULL, "
        "occurred_on DATE NOT NULL, description TEXT)"
    )
    w.create("CREATE INDEX idx_transactions_account_date ON transactions (account_id, occurred_on)")
    w.insert(
        "users",
        ["id", "email", "password_hash", "name", "created_at"],
        user_rows(w, users, password_hash, awkward=awkward),
    )
    rng = w.rng
    w.insert(
        "accounts",
        ["id", "user_id", "name", "type", "currency", "balance_cents"],
        [
            (u * 2 - k, u, "Cheque" if k else "Savings", "bank", "ZAR", 0)
            for u in range(1, users + 1)
            for k in (1, 0)
        ],
    )
    cats: list[tuple[Any, ...]] = []
    if awkward:
        cats += [(i + 1, None, name, None) for i, name in enumerate(DEFAULT_CATEGORIES)]
    base = len(cats)
    for u in range(1, users + 1):
        cats.append((base + u * 2 - 1, u, "Hobbies", None))
        cats.append((base + u * 2, u, "Model trains", base + u * 2 - 1))
    w.insert("categories", ["id", "user_id", "name", "parent_id"], cats)

    def transactions() -> Iterator[tuple[Any, ...]]:
        tid = 0
        for u in range(1, users + 1):
            for k in range(per_user):
                tid += 1
                category = (
                    (k % len(DEFAULT_CATEGORIES) + 1)
                    if awkward and k % 3 == 0
                    else (base + u * 2 - k % 2)
                )
                yield (
                    tid,
                    u * 2 - k % 2,
                    category,
                    -rng.randrange(100, 200_000),
                    w.day(k),
                    "Woolies" if k % 4 else "Café «Zoë»",
                )
        if awkward:
            tid += 1
            yield (tid, 999_999, None, -5000, w.day(1), "account closed in 2019")

    w.insert(
        "transactions",
        ["id", "account_id", "category_id", "amount_cents", "occurred_on", "description"],
        transactions(),
    )
