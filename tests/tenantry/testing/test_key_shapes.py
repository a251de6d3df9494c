"""Tenant tables keyed otherwise than by tenantry's integer ``id``, as a converted
database keeps them, under the shipped attack: a legacy uuid key, a composite key with no
``id``, and one row per member (the key ``(tenant_id, user_id)``).

Their models are the app's own, in a pytest of its own (a subprocess), as a user's suite.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.user_suite import run_suite

APP = """
import uuid

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import BigInteger, ForeignKey, select, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped, tenant_foreign_key
from tenantry.web import DbSession, MemberContext, Tenancy, ViewerContext

LEAK = False


class Flow(TenantScoped, Base):  # the usual id
    __tablename__ = "flows"
    name: Mapped[str]


class Run(TenantScoped, Base):  # a legacy uuid key, kept by tenantize
    __tablename__ = "runs"
    __table_args__ = (tenant_foreign_key("flow_id", "flows"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    flow_id: Mapped[int]
    output: Mapped[str]


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


def create_app(url, config, passwords):
    db = Database(url)
    upgrade(db.engine)
    Base.metadata.create_all(db.engine)
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
        if LEAK:  # by id alone, in SQL of its own: no scoping
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

    @app.post("/flows", status_code=201)
    def add_flow(ctx: MemberContext, session: DbSession) -> int:
        session.add(f := Flow(name="nightly"))
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
    answered 422 to it, found as leaks; the id-less tables' ``None`` ids likewise; and
    the table keyed by member could not be seeded twice for the victim."""
    run = run_suite(tmp_path, APP, TEST)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


def test_a_leak_through_a_uuid_key_is_found(tmp_path: Path) -> None:
    run = run_suite(tmp_path, APP.replace("LEAK = False", "LEAK = True"), TEST)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    found = run.stdout.split("FOUND ", 1)[1].splitlines()[0]
    assert "GET /runs/{run_id} with a victim id answered 200, a missing id 404" in found, found
    assert "/flows" not in found and "/api/" not in found, found
