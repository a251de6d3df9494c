"""The household electricity tracker (seed 000): users, meter readings, prepaid vouchers.

Its tables are exactly the legacy shape meterbook adopts after ``tenantize``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tenantry.migrate.samples.writer import Writer, user_rows

# Every sample user's password, so a test can sign in as a migrated user.
PASSWORD = "correct horse battery staple"  # noqa: S105 - public test fixture
VENDORS = ["City Power", "Eskom", "Shoprite", "Pick n Pay", "Capitec App"]


def generate(w: Writer, *, users: int, per_user: int, awkward: bool, password_hash: str) -> None:
    w.create(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "password_hash TEXT NOT NULL, name TEXT, created_at TIMESTAMP)"
    )
    w.create(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES "
        "users(id), read_at TIMESTAMP NOT NULL, meter_wh INTEGER NOT NULL, note TEXT, "
        "is_replacement BOOLEAN NOT NULL DEFAULT FALSE, created_at TIMESTAMP NOT NULL)"
    )
    w.create(
        "CREATE TABLE vouchers (id INTEGER PRIMARY KEY, user_id INTEGER, "
        "purchased_on DATE NOT NULL, amount_minor INTEGER NOT NULL, currency TEXT NOT NULL "
        "DEFAULT 'ZAR', energy_wh INTEGER NOT NULL, token_number TEXT, vendor TEXT, "
        "notes TEXT, created_at TIMESTAMP NOT NULL)"
    )
    w.create("CREATE INDEX idx_readings_read_at ON readings (read_at)")
    w.create("CREATE INDEX idx_vouchers_purchased_on ON vouchers (purchased_on)")
    w.insert(
        "users",
        ["id", "email", "password_hash", "name", "created_at"],
        user_rows(w, users, password_hash, awkward=awkward),
    )
    rng = w.rng
    readings_per_user = max(1, per_user * 3 // 4)
    vouchers_per_user = max(1, per_user - readings_per_user)

    def readings() -> Iterator[tuple[Any, ...]]:
        rid = 0
        for uid in range(1, users + 1):
            meter = rng.randrange(1_000_000, 50_000_000)
            for n in range(readings_per_user):
                rid += 1
                meter += rng.randrange(2_000, 30_000)
                note = "" if n % 7 else rng.choice(["", "estimated", 'said "ok"', "Zoë's 🔌"])
                yield (rid, uid, w.stamp(n + uid / 1000), meter, note, n == 5, w.stamp(n + 0.01))
        if awkward:
            # Readings of nobody: imported from an old spreadsheet without an owner.
            for _ in range(2):
                rid += 1
                yield (rid, None, w.stamp(1), 123_456, "orphan import", False, w.stamp(1))

    def vouchers() -> Iterator[tuple[Any, ...]]:
        vid = 0
        for uid in range(1, users + 1):
            for n in range(vouchers_per_user):
                vid += 1
                amount = rng.randrange(5_000, 100_000)
                token = f"{rng.getrandbits(64):020d}"
                note = "" if n % 5 else "it's fine"
                yield (
                    vid,
                    uid,
                    w.day(n * 9),
                    amount,
                    "ZAR",
                    amount * 4,
                    token,
                    rng.choice(VENDORS),
                    note,
                    w.stamp(n * 9),
                )
        if awkward:
            # A voucher of a user deleted long ago: its owner does not exist.
            vid += 1
            yield (vid, 9999, w.day(3), 1000, "ZAR", 4000, "0", "Eskom", "ghost", w.stamp(3))

    w.insert(
        "readings",
        ["id", "user_id", "read_at", "meter_wh", "note", "is_replacement", "created_at"],
        readings(),
    )
    w.insert(
        "vouchers",
        [
            "id",
            "user_id",
            "purchased_on",
            "amount_minor",
            "currency",
            "energy_wh",
            "token_number",
            "vendor",
            "notes",
            "created_at",
        ],
        vouchers(),
    )
