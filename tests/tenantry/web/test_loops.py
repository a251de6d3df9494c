"""A ``TestClient`` opened without ``with`` runs each request on an event loop of its own.

The membership check and ``Reads`` await PostgreSQL through pooled async connections,
which belong to the loop that opened them: a pooled one must not be used on another.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import register


def test_requests_on_loops_of_their_own_each_answer(app: FastAPI) -> None:
    with TestClient(app) as opened:  # sign-up sends mail: that needs the lifespan
        alice = register(opened, "alice@example.com")
    loose = TestClient(app)  # a new loop (and thread) per request from here on
    for _ in range(3):
        assert loose.get("/api/notes", headers=alice.headers).status_code == 200
        assert loose.get("/api/tenant", headers=alice.headers).status_code == 200
        assert loose.get("/api/readings", headers=alice.headers).status_code == 200  # Reads
