"""Tenant tables keyed otherwise than by tenantry's integer ``id``, as a converted
database keeps them, under the shipped attack: a legacy uuid key, a composite key with no
``id``, one row per member (the key ``(tenant_id, user_id)``), a member's own unique
names, and a shared table keyed by uuid.

Their models are the app's own, in a pytest of its own (a subprocess), as a user's suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.user_suite import run_suite

APP = """
import uuid

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import BigInteger, ForeignKey, UniqueConstraint, insert, select, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped, tenant_foreign_key
from tenantry.web import DbSession, MemberContext, Tenancy, ViewerContext

LEAK = ""  # "run": a run read by id alone; "move": a board looked up by id alone


class Team(Base):  # shared: every tenant's flows name one
    __tablename__ = "teams"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str]


class Flow(TenantScoped, Base):  # the usual id
    __tablename__ = "flows"
    name: Mapped[str]
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id"))


class Board(TenantScoped, Base):  # another legacy uuid key
    __tablename__ = "boards"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str]


class Label(TenantScoped, Base):  # unique per member and name, not one per member
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "name"),)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenantry_users.id"))
    name: Mapped[str]


class Labelled(TenantScoped, Base):  # a child of it: seeded each time the victim grows
    __tablename__ = "labelled"
    __table_args__ = (tenant_foreign_key("label_id", "labels"),)
    label_id: Mapped[int]


class Run(TenantScoped, Base):  # a legacy uuid key, kept by tenantize
    __tablename__ = "runs"
    __table_args__ = (tenant_foreign_key("flow_id", "flows"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    flow_id: Mapped[int]
    output: Mapped[str]
    board_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # a plain column


class FlowTag(TenantScoped, Base):  # a composite key, no id
    __tablename__ = "flow_tags"
    __table_args__ = (tenant_foreign_key("flow_id", "flows"),)
    id = None
    flow_id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(primary_key=True)


class Settings(TenantScoped, Base):  # one row per member
    __tablename__ = "settings"
    id = None
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tenantry_users.id", ondelete="CASCADE"), primary_key=True
    )
    theme: Mapped[str]


class Start(BaseModel):
    flow_id: int


class Move(BaseModel):
    run_id: uuid.UUID
    board_id: uuid.UUID


def create_app(url, config, passwords):
    db = Database(url)
    upgrade(db.engine)
    Base.metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        if conn.scalar(select(Team.id).limit(1)) is None:
            conn.execute(insert(Team), [{"id": uuid.uuid4(), "name": "ops"}])
    app = FastAPI()
    Tenancy(db, config, passwords).install(app)

    @app.get("/flows/{flow_id}")
    def flow(flow_id: int, ctx: ViewerContext, session: DbSession) -> str:
        found = session.get(Flow, (ctx.tenant_id, flow_id))
        if found is None:
            raise NotFound("no such flow")
        return found.name

    @app.post("/runs", status_code=201)
    def start(body: Start, ctx: MemberContext, session: DbSession) -> str:
        if session.get(Flow, (ctx.tenant_id, body.flow_id)) is None:
            raise NotFound("no such flow")
        session.add(r := Run(flow_id=body.flow_id, output="queued"))
        session.flush()
        return str(r.id)

    @app.get("/runs/{run_id}")
    def run(run_id: uuid.UUID, ctx: ViewerContext, session: DbSession) -> str:
        if LEAK == "run":  # by id alone, in SQL of its own: no scoping
            found = session.connection().execute(
                text("SELECT output FROM runs WHERE id = :i"), {"i": run_id.hex}
            ).scalar()
            if found is None:
                raise NotFound("no such run")
            return found
        found = session.get(Run, (ctx.tenant_id, run_id))
        if found is None:
            raise NotFound("no such run")
        return found.output

    @app.get("/flows/{flow_id}/tags")
    def tags(flow_id: int, ctx: ViewerContext, session: DbSession) -> list[str]:
        return list(session.scalars(select(FlowTag.tag).where(FlowTag.flow_id == flow_id)))

    @app.post("/flows/{flow_id}/tags/{tag}", status_code=201)
    def tag(flow_id: int, tag: str, ctx: MemberContext, session: DbSession) -> None:
        if session.get(Flow, (ctx.tenant_id, flow_id)) is None:
            raise NotFound("no such flow")
        session.add(FlowTag(flow_id=flow_id, tag=tag))

    @app.post("/runs/move")
    def move(body: Move, ctx: MemberContext, session: DbSession) -> str:
        run = session.get(Run, (ctx.tenant_id, body.run_id))
        if run is None:
            raise NotFound("no such run")
        if LEAK == "move":  # the board by id alone, in SQL of its own: no scoping
            board = session.connection().execute(
                text("SELECT id FROM boards WHERE id = :i"), {"i": body.board_id.hex}
            ).scalar()
        else:
            board = session.get(Board, (ctx.tenant_id, body.board_id))
        if board is None:
            raise NotFound("no such board")
        run.board_id = body.board_id
        return "moved"

    @app.get("/teams/{team_id}")
    def team(team_id: uuid.UUID, ctx: ViewerContext, session: DbSession) -> str:
        found = session.get(Team, team_id)
        if found is None:
            raise NotFound("no such team")
        return found.name

    @app.post("/flows", status_code=201)
    def add_flow(ctx: MemberContext, session: DbSession) -> int:
        team = session.scalar(select(Team.id).limit(1))
        session.add(f := Flow(name="nightly", team_id=team))
        session.flush()
        return f.id

    @app.get("/settings")
    def settings(ctx: ViewerContext, session: DbSession) -> str:
        found = session.get(Settings, {"tenant_id": ctx.tenant_id, "user_id": ctx.user_id})
        return found.theme if found else "light"

    return app
"""

TEST = """
def test_the_attack(tenantry_attack):
    found = tenantry_attack()
    print("FOUND", found)
    assert found == []
"""


AUDIT = """
def test_a_row_of_a_composite_key_is_audited_by_its_key(tenantry_client, tenantry_member):
    owner = tenantry_member()
    flow = tenantry_client.post("/flows", headers=owner.headers).json()
    tagged = tenantry_client.post(f"/flows/{flow}/tags/urgent", headers=owner.headers)
    assert tagged.status_code == 201, tagged.text
    trail = tenantry_client.get("/api/tenant/audit?action=row.created", headers=owner.headers)
    targets = {event["target"] for event in trail.json()}
    assert targets == {f"flows:{flow}", f"flow_tags:{flow},urgent"}, targets
"""


def test_a_composite_key_is_the_audit_target(tmp_path: Path) -> None:
    """A model without ``id`` (``id = None``, the key ``(tenant_id, flow_id, tag)``) was
    audited as ``flow_tags:None``."""
    run = run_suite(tmp_path, APP, AUDIT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def test_other_keys_are_seeded_and_attacked_with_ids_of_their_own_type(tmp_path: Path) -> None:
    """The uuid key went into the integer ids: the app's and tenantry's own int routes
    answered 422 to it, found as leaks; the id-less tables' ``None`` ids likewise; the
    table keyed by member could not be seeded twice for the victim; the shared team's
    uuid, which the victim's flows hold, was taken for the victim's (``/teams`` answered
    it); and ``labels`` (unique per member and name) was taken for one row per member, so
    growing the victim left ``labelled`` without a parent."""
    run = run_suite(tmp_path, APP, TEST)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


@pytest.mark.parametrize(
    ("leak", "finding"),
    [
        ("run", "GET /runs/{run_id} with a victim id answered 200, a missing id 404"),
        (  # the run must be the attacker's own for the route to read the board
            "move",
            "POST /runs/move with its own ids and a victim id in board_id answered 200, a "
            "missing id 404",
        ),
    ],
)
def test_a_leak_through_a_uuid_key_is_found(tmp_path: Path, leak: str, finding: str) -> None:
    """The move was passed: the run's slot got no uuid of the attacker's own, so the
    route answered 'no such run' whatever the board."""
    run = run_suite(tmp_path, APP.replace('LEAK = ""', f'LEAK = "{leak}"'), TEST)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    found = run.stdout.split("FOUND ", 1)[1].splitlines()[0]
    assert finding in found, found
    assert "/flows" not in found and "/api/" not in found and "/teams" not in found, found
