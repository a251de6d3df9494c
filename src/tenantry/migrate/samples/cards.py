"""The trading-card collection (seed 003): cards, players, teams, manufacturers, all per user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tenantry.migrate.samples.writer import Writer, user_rows

BRANDS = ["Topps", "Panini", "Upper Deck", "Bowman"]
TEAMS = ["Bulls", "Sharks", "Lions", "Stormers", "Cheetahs"]


def generate(w: Writer, *, users: int, per_user: int, awkward: bool, password_hash: str) -> None:
    w.create(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "password_hash TEXT, name TEXT, created_at TIMESTAMP)"
    )
    w.create(
        "CREATE TABLE manufacturers (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
        "REFERENCES users(id), name TEXT NOT NULL)"
    )
    w.create(
        "CREATE TABLE teams (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES "
        "users(id), name TEXT NOT NULL, city TEXT)"
    )
    w.create(
        "CREATE TABLE players (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES "
        "users(id), team_id INTEGER REFERENCES teams(id), name TEXT NOT NULL)"
    )
    w.create(
        "CREATE TABLE cards (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES "
        "users(id), cardnumber TEXT NOT NULL, player_id INTEGER REFERENCES players(id), "
        "team_id INTEGER REFERENCES teams(id), manufacturer_id INTEGER REFERENCES "
        "manufacturers(id), year INTEGER, condition TEXT, notes TEXT)"
    )
    w.create("CREATE INDEX idx_cards_year ON cards (year)")
    w.insert(
        "users",
        ["id", "email", "password_hash", "name", "created_at"],
        user_rows(w, users, password_hash, awkward=awkward),
    )
    rng = w.rng
    w.insert(
        "manufacturers",
        ["id", "user_id", "name"],
        [
            ((u - 1) * len(BRANDS) + i + 1, u, b)
            for u in range(1, users + 1)
            for i, b in enumerate(BRANDS)
        ],
    )
    w.insert(
        "teams",
        ["id", "user_id", "name", "city"],
        [
            ((u - 1) * len(TEAMS) + i + 1, u, t, "Pretoria" if i else "Durban")
            for u in range(1, users + 1)
            for i, t in enumerate(TEAMS)
        ],
    )
    per = max(2, per_user // 3)
    players = [(pid, (pid - 1) // per + 1) for pid in range(1, users * per + 1)]
    w.insert(
        "players",
        ["id", "user_id", "team_id", "name"],
        [
            (
                pid,
                uid,
                (uid - 1) * len(TEAMS) + pid % len(TEAMS) + 1,
                w.person(pid) if pid % 11 else "Siya Kolisi \u2018Captain\u2019",
            )
            for pid, uid in players
        ],
    )

    def cards() -> Iterator[tuple[Any, ...]]:
        cid = 0
        for pid, uid in players:
            for k in range(3):
                cid += 1
                player = pid
                if awkward and cid == 2:
                    player = len(players)  # a card pointing at another collector's player
                team = (uid - 1) * len(TEAMS) + pid % len(TEAMS) + 1
                brand = (uid - 1) * len(BRANDS) + k % len(BRANDS) + 1
                yield (
                    cid,
                    uid,
                    f"#{cid:04d}",
                    player,
                    team,
                    brand,
                    1990 + rng.randrange(35),
                    rng.choice(["mint", "near mint", "fair"]),
                    "" if k else "graded 9½",
                )

    w.insert(
        "cards",
        [
            "id",
            "user_id",
            "cardnumber",
            "player_id",
            "team_id",
            "manufacturer_id",
            "year",
            "condition",
            "notes",
        ],
        cards(),
    )
