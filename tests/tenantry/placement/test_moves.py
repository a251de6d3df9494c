"""Moves asked for in the console: one run per claim, whoever delivers its job twice."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenantry.errors import ValidationFailed
from tenantry.models import PlacementMove, utcnow
from tenantry.placement import Placements, move
from tenantry.placement.moves import (
    ALIVE,
    STALE,
    MoveRefused,
    move_from_command_line,
    placement_view,
    request_move,
    run_move,
)
from tenantry.testing import register


def test_a_claim_runs_once_while_its_run_is_alive(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_move only checked that the claim was running: a second delivery of the job
    started a second copy of the same tenant beside the first."""
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    tenant_id = uuid.UUID(register(client, "alice@example.com").tenant_id)
    with placements.control.session() as session:
        request_move(session, placements, tenant_id, to="dedicated", server=None, actor_id=1)
    runs: list[str] = []
    started, release = threading.Event(), threading.Event()
    real = move.move_tenant

    def slow_move(*args: Any, **kwargs: Any) -> move.MoveReport:
        runs.append("run")
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(move, "move_tenant", slow_move)
    first = threading.Thread(target=run_move, args=(placements, tenant_id))
    first.start()
    try:
        assert started.wait(30)
        run_move(placements, tenant_id)  # the job delivered again while the first runs
        assert runs == ["run"]
    finally:
        release.set()
        first.join(60)
    with placements.control.read_sessions() as session:
        view = placement_view(session, tenant_id)
    assert view.move is not None and view.move.status == "done", view.move
    assert not view.location.is_shared


def test_a_claim_whose_run_died_is_taken_over(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    tenant_id = uuid.UUID(register(client, "alice@example.com").tenant_id)
    with placements.control.session() as session:
        request_move(session, placements, tenant_id, to="dedicated", server=None, actor_id=1)
        # A run took it and died (kill -9) longer than STALE ago.
        session.execute(
            update(PlacementMove)
            .where(PlacementMove.tenant_id == tenant_id)
            .values(step="copy:readings:40000", updated_at=utcnow() - STALE - timedelta(minutes=1))
        )
    run_move(placements, tenant_id)
    with placements.control.read_sessions() as session:
        view = placement_view(session, tenant_id)
    assert view.move is not None and view.move.status == "done", view.move


@pytest.mark.parametrize(
    ("to", "server"), [("dedicated", "no-such-server"), ("shared", "files"), ("nowhere", None)]
)
def test_a_request_no_state_makes_valid_is_422_while_a_move_runs(
    client: TestClient, to: str, server: str | None
) -> None:
    """It was 409 move_refused while another move ran; the docs' table says 422."""
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    tenant_id = uuid.UUID(register(client, "alice@example.com").tenant_id)
    with placements.control.session() as session:
        request_move(session, placements, tenant_id, to="dedicated", server=None, actor_id=1)
    with placements.control.session() as session, pytest.raises(ValidationFailed) as refused:
        request_move(session, placements, tenant_id, to=to, server=server, actor_id=1)
    assert refused.value.status == 422


def test_a_command_line_move_takes_the_same_claim_as_the_consoles(client: TestClient) -> None:
    """Two moves at once (a command's beside the console's, or two commands) each copied
    the tenant, the loser left a full copy behind and said it had moved nothing; a
    console move finished by the command still said "running" in the console."""
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    tenant_id = uuid.UUID(register(client, "alice@example.com").tenant_id)
    with placements.control.session() as session:  # the console's, its job not run yet
        request_move(session, placements, tenant_id, to="dedicated", server=None, actor_id=1)
    with pytest.raises(MoveRefused, match="a move of this tenant is running"):
        move_from_command_line(placements, tenant_id, to="dedicated", server=None, on_step=print)
    # Its process stopped (a kill -9): quiet for longer than ALIVE, the command takes over.
    with placements.control.session() as session:
        session.execute(
            update(PlacementMove).values(updated_at=utcnow() - ALIVE - timedelta(seconds=1))
        )
    steps: list[str] = []
    report = move_from_command_line(
        placements, tenant_id, to="dedicated", server=None, on_step=steps.append
    )
    assert not report.target.is_shared and "switched" in steps
    with placements.control.read_sessions() as session:
        view = placement_view(session, tenant_id)
    assert view.move is not None and view.move.status == "done", view.move
    assert view.location == report.target
    run_move(placements, tenant_id)  # the console's job, delivered at last: nothing to do
    # Dedicated already, and no server named: it stays where it is.
    again = move_from_command_line(
        placements, tenant_id, to="dedicated", server=None, on_step=print
    )
    assert again.already_there and again.target == report.target


def test_a_command_line_move_of_a_deleted_tenant_is_refused(client: TestClient) -> None:
    placements: Placements = client.app.state.tenancy.placements  # type: ignore[attr-defined]
    alice = register(client, "alice@example.com", tenant_name="Alice home")
    assert client.delete("/api/tenant?confirm=Alice home", headers=alice.headers).is_success
    with pytest.raises(MoveRefused, match="deleted"):
        move_from_command_line(
            placements, uuid.UUID(alice.tenant_id), to="dedicated", server=None, on_step=print
        )
