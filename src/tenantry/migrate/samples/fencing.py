"""The fencing-contractor CRM (seed 001): customers to approvals, and global pricing zones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tenantry.migrate.samples.writer import Writer, user_rows


def _bcrypt() -> str:
    """The CRM hashed with bcrypt (seed 001: ``bcrypt.hash(password, 10)``): one hash of
    the samples' password, cheap rounds, shared by every user."""
    import bcrypt

    from tenantry.migrate.samples.electricity import PASSWORD

    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


ZONES = ["Metro", "Suburbs", "Rural", "Coastal", "Mountain"]


def generate(w: Writer, *, users: int, per_user: int, awkward: bool, password_hash: str) -> None:
    w.create(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "password_hash TEXT, name TEXT, created_at TIMESTAMP)"
    )
    w.create(
        "CREATE TABLE pricing_zones (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
        "price_per_metre_cents INTEGER NOT NULL)"
    )
    w.create(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES "
        "users(id), name TEXT NOT NULL, phone TEXT, address TEXT)"
    )
    w.create(
        "CREATE TABLE leads (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES "
        "users(id), customer_id INTEGER REFERENCES customers(id), source TEXT, "
        "status TEXT NOT NULL)"
    )
    w.create(
        "CREATE TABLE appointments (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
        "REFERENCES customers(id), lead_id INTEGER, scheduled_at TIMESTAMP NOT NULL, "
        "notes TEXT)"
    )
    w.create(
        "CREATE TABLE quotes (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
        "REFERENCES customers(id) ON DELETE CASCADE, zone_id INTEGER REFERENCES "
        "pricing_zones(id), metres NUMERIC(10, 2), total_cents INTEGER NOT NULL, notes TEXT)"
    )
    w.create(
        "CREATE TABLE roi_calculations (id INTEGER PRIMARY KEY, quote_id INTEGER NOT NULL "
        "REFERENCES quotes(id), payback_months INTEGER, savings_cents INTEGER)"
    )
    w.create(
        "CREATE TABLE pricing_approvals (id INTEGER PRIMARY KEY, quote_id INTEGER NOT NULL "
        "REFERENCES quotes(id), approved_by INTEGER REFERENCES users(id), "
        "approved_at TIMESTAMP, status TEXT NOT NULL)"
    )
    w.create("CREATE INDEX idx_quotes_customer ON quotes (customer_id)")
    w.insert(
        "users",
        ["id", "email", "password_hash", "name", "created_at"],
        user_rows(w, users, _bcrypt(), awkward=awkward),
    )
    w.insert(
        "pricing_zones",
        ["id", "name", "price_per_metre_cents"],
        [(i + 1, z, 9_000 + 1_500 * i) for i, z in enumerate(ZONES)],
    )
    rng = w.rng
    n = max(1, per_user // 4)
    customers = [(cid, (cid - 1) // n + 1) for cid in range(1, users * n + 1)]

    def customer_rows() -> Iterator[tuple[Any, ...]]:
        for cid, uid in customers:
            name = w.person(cid) if cid % 9 else "Van der Merwe & Sons (Pty) Ltd"
            yield (cid, uid, name, f"+27 82 {cid:07d}", f"{cid} O'Reilly Street")
        if awkward:
            yield (len(customers) + 1, None, "Walk-in, no rep", None, None)

    w.insert("customers", ["id", "user_id", "name", "phone", "address"], customer_rows())
    w.insert(
        "leads",
        ["id", "user_id", "customer_id", "source", "status"],
        [
            (cid, uid, cid, rng.choice(["web", "referral", "yard sign"]), "open")
            for cid, uid in customers
        ],
    )

    def appointments() -> Iterator[tuple[Any, ...]]:
        for cid, _uid in customers:
            lead = cid
            if awkward and cid == n + 1:
                lead = 1  # booked against another rep's lead: parents of two owners
            yield (cid, cid, lead, w.stamp(cid), "bring the 'big' ladder")

    w.insert(
        "appointments", ["id", "customer_id", "lead_id", "scheduled_at", "notes"], appointments()
    )
    w.insert(
        "quotes",
        ["id", "customer_id", "zone_id", "metres", "total_cents", "notes"],
        [
            (cid, cid, cid % len(ZONES) + 1, 42.5, 382_500 + cid, "incl. gate")
            for cid, _ in customers
        ],
    )
    w.insert(
        "roi_calculations",
        ["id", "quote_id", "payback_months", "savings_cents"],
        [(cid, cid, 18 + cid % 12, 10_000 * cid) for cid, _ in customers],
    )
    w.insert(
        "pricing_approvals",
        ["id", "quote_id", "approved_by", "approved_at", "status"],
        [(cid, cid, uid, w.stamp(cid + 1), "approved") for cid, uid in customers],
    )
