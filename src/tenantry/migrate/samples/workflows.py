"""The workflow automation service (seed 002): credentials, workflows, logs owned via workflows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tenantry.migrate.samples.writer import Writer, user_rows


def generate(w: Writer, *, users: int, per_user: int, awkward: bool, password_hash: str) -> None:
    w.create(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "password_hash TEXT NOT NULL, created_at TIMESTAMP)"
    )
    w.create(
        "CREATE TABLE credentials (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
        "REFERENCES users(id), service_name TEXT NOT NULL, encrypted_key BLOB NOT NULL)"
    )
    w.create(
        "CREATE TABLE workflows (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
        "REFERENCES users(id), name TEXT NOT NULL, trigger_type TEXT, action_type TEXT, "
        "config_json TEXT, is_active BOOLEAN NOT NULL, last_executed_at TIMESTAMP, "
        "created_at TIMESTAMP)"
    )
    # Logs never had a foreign key: deleting a workflow left its logs behind.
    w.create(
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, workflow_id INTEGER NOT NULL, "
        "status TEXT NOT NULL, message TEXT, executed_at TIMESTAMP NOT NULL)"
    )
    w.create("CREATE INDEX idx_logs_workflow ON logs (workflow_id, executed_at)")
    rows = [
        (uid, email, pw, created)
        for uid, email, pw, _n, created in user_rows(w, users, password_hash, awkward=awkward)
    ]
    w.insert("users", ["id", "email", "password_hash", "created_at"], rows)
    rng = w.rng
    w.insert(
        "credentials",
        ["id", "user_id", "service_name", "encrypted_key"],
        [(uid, uid, "slack", rng.randbytes(48)) for uid in range(1, users + 1)],
    )
    per = max(1, per_user // 5)
    flows = [(fid, (fid - 1) // per + 1) for fid in range(1, users * per + 1)]
    config = json.dumps({"channel": "#général", "text": 'say "hi" 👋'}, ensure_ascii=False)
    w.insert(
        "workflows",
        [
            "id",
            "user_id",
            "name",
            "trigger_type",
            "action_type",
            "config_json",
            "is_active",
            "last_executed_at",
            "created_at",
        ],
        [
            (
                fid,
                uid,
                f"flow {fid}",
                "cron",
                "slack",
                config,
                fid % 3 != 0,
                w.stamp(fid),
                w.stamp(0),
            )
            for fid, uid in flows
        ],
    )

    def logs() -> Iterator[tuple[Any, ...]]:
        lid = 0
        for fid, _uid in flows:
            for k in range(4):
                lid += 1
                yield (lid, fid, "ok" if k % 4 else "error", f"run {k}", w.stamp(fid + k / 24))
        if awkward:
            for _ in range(3):
                lid += 1
                yield (lid, 10_000_000, "ok", "of a deleted workflow", w.stamp(2))

    w.insert("logs", ["id", "workflow_id", "status", "message", "executed_at"], logs())
