"""An app with shared reference data (a table every tenant reads) under the shipped attack.

Its models are its own: they run in a pytest of their own (a subprocess), as a user's
suite would, so they never join this suite's model registry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.postgres import OWNER_ROLE, PostgresServer
from tests.support.user_suite import run_suite

APP = """
from fastapi import FastAPI
from sqlalchemy import ForeignKey, select
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped
from tenantry.web import DbSession, MemberContext, Tenancy, ViewerContext


class Color(Base):  # shared: every tenant reads the same colours, ids 1, 2, 3
    __tablename__ = "colors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Fence(TenantScoped, Base):
    __tablename__ = "fences"
    color_id: Mapped[int] = mapped_column(ForeignKey("colors.id"))  # required
    label: Mapped[str]


def create_app(url, config, passwords):
    db = Database(url)
    upgrade(db.engine)
    Base.metadata.create_all(db.engine, tables=[Color.__table__, Fence.__table__])
    with db.engine.begin() as conn:
        if conn.scalar(select(Color.id).limit(1)) is None:
            conn.execute(Color.__table__.insert(), [
                {"id": i, "name": n} for i, n in enumerate(["red", "green", "blue"], 1)
            ])
    app = FastAPI()
    Tenancy(db, config, passwords).install(app)

    @app.get("/colors/{color_id}")
    def color(color_id: int, ctx: ViewerContext, session: DbSession) -> str:
        found = session.get(Color, color_id)
        if found is None:
            raise NotFound("no such colour")
        return found.name

    @app.get("/fences/{fence_id}")
    def fence(fence_id: int, ctx: ViewerContext, session: DbSession) -> str:
        found = session.get(Fence, (ctx.tenant_id, fence_id))
        if found is None:
            raise NotFound("no such fence")
        return found.label

    @app.post("/fences", status_code=201)
    def add(ctx: MemberContext, session: DbSession) -> int:
        session.add(f := Fence(color_id=1, label="new"))
        session.flush()
        return f.id

    return app
"""

TEST = """
def test_the_attack_holds(tenantry_attack):
    assert tenantry_attack() == []
"""


def test_a_shared_table_is_seeded_from_and_its_ids_are_not_the_victims(tmp_path: Path) -> None:
    """A tenant table with a required reference to a shared table failed the seeding
    (NOT NULL), and a route reading the shared table by id was taken for a leak: the
    victim's members' ids (1, 2) are the colours' ids too."""
    run = run_suite(tmp_path, APP, TEST)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
    assert not (tmp_path / "var").exists()  # the plugin's mails stay in the test's folder


def test_a_suite_without_the_apps_tables_is_told_how_to_get_them(tmp_path: Path) -> None:
    """No ``tenantry_migrations`` in pytest.ini and no tables made by the app: a request
    failed with a bare "no such table"; the failure now says what to add."""
    app = APP.replace(
        "    Base.metadata.create_all(db.engine, tables=[Color.__table__, Fence.__table__])\n"
        "    with db.engine.begin() as conn:\n"
        "        if conn.scalar(select(Color.id).limit(1)) is None:\n",
        "    if False:\n        if True:\n",
    )
    assert app != APP
    test = """
def test_a_fence(tenantry_client, tenantry_member):
    owner = tenantry_member()
    assert tenantry_client.post("/fences", headers=owner.headers).status_code == 201
"""
    run = run_suite(tmp_path, app, test)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    assert "no such table: fences" in run.stdout
    assert "add `tenantry_migrations = <your migrations directory>` under [pytest]" in run.stdout


# A route naming a row of the shared table (32-bit key) beside the tenant's own: a missing
# id beyond 32 bits is refused as out of range (422) where a victim's small id is a 404.
PAINT = """
    from pydantic import BaseModel

    class Paint(BaseModel):
        fence_id: int
        color_id: int

    @app.post("/fences/paint")
    def paint(body: Paint, ctx: MemberContext, session: DbSession) -> str:
        fence = session.get(Fence, (ctx.tenant_id, body.fence_id))
        color = session.get(Color, body.color_id)
        if fence is None or color is None:
            raise NotFound("no such fence or colour")
        fence.color_id = color.id
        return color.name

"""


@pytest.mark.postgres
def test_a_converted_databases_shapes_are_seeded_on_postgresql(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """From a stranger's CRM converted by tenantize: the shared table's 32-bit key was
    compared with the tenants' 53-bit ids (``integer out of range``: the attack could not
    run); a string ``Enum`` got random text; and a CHECK the database kept (PostgreSQL
    prints it ``(stage)::text = ANY (ARRAY[...])``), which the model does not repeat,
    refused the seeded row: each failed the seeding of ``fences``. Then ``/fences/paint``
    was a false alarm: a missing colour id beyond 32 bits answered 422, a victim's 404."""
    app = (
        APP.replace(
            "from sqlalchemy import ForeignKey, select",
            "from sqlalchemy import Enum, ForeignKey, String, select",
        )
        .replace(
            "    label: Mapped[str]\n",
            "    label: Mapped[str]\n"
            "    status: Mapped[str] = mapped_column(\n"
            '        Enum("planned", "built", name="fence_status")\n'
            "    )\n"
            '    stage: Mapped[str] = mapped_column(String(20), default="new")\n',
        )
        .replace(
            "    app = FastAPI()\n",
            "    with db.engine.begin() as conn:\n"
            '        conn.exec_driver_sql("ALTER TABLE fences DROP CONSTRAINT IF EXISTS stages")\n'
            "        conn.exec_driver_sql(\n"
            '            "ALTER TABLE fences ADD CONSTRAINT stages "\n'
            "            \"CHECK (stage IN ('new', 'won'))\"\n"
            "        )\n"
            "    app = FastAPI()\n",
        )
        .replace(
            'Fence(color_id=1, label="new")', 'Fence(color_id=101, label="new", status="built")'
        )
        # colours 101-103: the victim's members' small ids are no colour's
        .replace(
            'enumerate(["red", "green", "blue"], 1)', 'enumerate(["red", "green", "blue"], 101)'
        )
        .replace("    return app\n", PAINT + "    return app\n")
    )
    assert app.count("stages") == 2 and "fence_status" in app and "/fences/paint" in app
    assert "], 101)" in app and "color_id=101" in app
    name = postgres.create_database()
    try:
        run = run_suite(tmp_path, app, TEST, database_url=postgres.url(OWNER_ROLE, name))
    finally:
        postgres.drop_database(name)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


def test_a_row_the_seeding_cannot_make_says_what_it_reads(tmp_path: Path) -> None:
    """From a stranger's CRM: the failure advised 'give the column a default' for a column
    that had one; the seeding never reads defaults, and nobody can seed a table for it."""
    app = APP.replace(
        "from sqlalchemy import ForeignKey, select",
        "from sqlalchemy import CheckConstraint, ForeignKey, String, select",
    ).replace(
        "    label: Mapped[str]\n",
        "    label: Mapped[str]\n"
        '    stage: Mapped[str] = mapped_column(String(20), default="new")\n'
        '    __table_args__ = (CheckConstraint("stage = lower(stage)", name="stage_lower"),)\n',
    )
    assert "stage_lower" in app
    run = run_suite(tmp_path, app, TEST)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    said = " ".join(run.stdout.split())
    assert "the attack could not put a row into fences (IntegrityError:" in said, said[-3000:]
    assert "never from a default: say the values a refused column takes" in said
    assert "give the column a default" not in said
