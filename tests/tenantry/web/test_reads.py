"""``Reads``: what a route's read does besides reading is kept wherever the read runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenantry.db import Database
from tenantry.models import AuditEvent
from tenantry.scoping import unscoped
from tenantry.web import Reads, ViewerContext
from tenantry_server.settings import Settings
from tests.conftest import register
from tests.notes_app import AppNote
from tests.support.routes import client_with

router = APIRouter(prefix="/api/reads")


def _count_every_tenants_notes(session: Session, actor_id: int) -> int:
    # An audited read: unscoped() records who looked across tenants, and why.
    with unscoped(session, reason="reads test: count all notes", actor_id=actor_id):
        return len(session.execute(select(AppNote.id)).all())


@router.get("/audited")
async def audited(ctx: ViewerContext, reads: Reads) -> dict[str, Any]:
    return {"notes": await reads.run(_count_every_tenants_notes, ctx.user_id)}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with client_with(settings, "reads-test", router) as test_client:
        yield test_client


def test_an_audited_read_keeps_its_audit_event(client: TestClient) -> None:
    alice = register(client, "alice@example.com")
    answer = client.get("/api/reads/audited", headers=alice.headers)
    assert answer.status_code == 200  # (what it counts is the RLS tests' business)
    db: Database = client.app.state.tenancy.db  # type: ignore[attr-defined]
    with db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "unscoped", AuditEvent.actor_id == alice.user_id
            )
        ).all()
    assert [e.details["reason"] for e in events] == ["reads test: count all notes"]
