"""What the attack reaches, on an app of its own with three levels of tenant tables.

The app's models (projects, their tasks, the tasks' comments; a public uuid on projects)
run in a pytest of their own (a subprocess, as a user's suite would), so they never join
this suite's model registry. Each leaky route reads another tenant's rows in raw SQL in
one way an outside tester found the attack blind to; each must be a finding, and the
app's correct routes none.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.user_suite import run_suite

APP = """
import uuid

from typing import Annotated

from fastapi import FastAPI, Header, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import CheckConstraint, Computed, String, UniqueConstraint, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped, tenant_foreign_key
from tenantry.web import DbSession, MemberContext, Tenancy, ViewerContext


class Project(TenantScoped, Base):
    # What a generic seeding got wrong: a CHECK of allowed values, a short code unique in
    # the tenant, a reference to a row of the same table.
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'live')", name="ck_projects_status"),
        UniqueConstraint("tenant_id", "code"),
        tenant_foreign_key("replaces_id", "projects"),
    )
    name: Mapped[str] = mapped_column(String(100))
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(8))
    replaces_id: Mapped[int | None]


class Task(TenantScoped, Base):
    __tablename__ = "tasks"
    __table_args__ = (tenant_foreign_key("project_id", "projects"),)
    project_id: Mapped[int]
    title: Mapped[str] = mapped_column(String(100))
    hours: Mapped[int]
    minutes: Mapped[int] = mapped_column(Computed("hours * 60"))  # the database's own


class Remark(TenantScoped, Base):
    __tablename__ = "remarks"
    __table_args__ = (tenant_foreign_key("task_id", "tasks"),)
    task_id: Mapped[int]
    body: Mapped[str] = mapped_column(String(100))
    author_email: Mapped[str] = mapped_column(String(100))

    @validates("author_email")
    def _an_address(self, key, value):
        if "@" not in value:
            raise ValueError("not an email address")
        return value


def _one(session, sql, **params):
    row = session.execute(text(sql), params).first()
    if row is None:
        raise NotFound("not found")
    return list(row)


class Rename(BaseModel):
    name: str | None = None  # every field optional: a PATCH
    code: str | None = Field(None, pattern="^[A-Z]{3}$", examples=["ABC"])


class Tagging(BaseModel):
    task_ids: list[int] = Field(min_length=1)


class Linking(BaseModel):
    remark_ids: list[int] = Field(min_length=1)


class Pick(BaseModel):
    code: str = Field(pattern="^[0-9]{3}-[A-Z]$")  # no example the attack can make up


def create_app(url, config, passwords):
    db = Database(url)
    upgrade(db.engine)
    Base.metadata.create_all(db.engine, tables=[t.__table__ for t in (Project, Task, Remark)])
    app = FastAPI()
    Tenancy(db, config, passwords).install(app)

    @app.get("/projects/{project_id}/tasks/{task_id}/remarks/{remark_id}")
    def remark(project_id: int, task_id: int, remark_id: int, ctx: ViewerContext,
               session: DbSession):
        # The project is checked (the ORM's wall), the task and remark read in raw SQL.
        if session.scalar(select(Project.id).where(Project.id == project_id)) is None:
            raise NotFound("no such project")
        return _one(session, "SELECT r.id FROM remarks r JOIN tasks t ON t.id = r.task_id "
                    "WHERE t.id = :t AND r.id = :r", t=task_id, r=remark_id)

    @app.get("/public/{public_id}")
    def by_public_id(public_id: uuid.UUID, ctx: ViewerContext, session: DbSession):
        return _one(session, "SELECT id FROM projects WHERE public_id = :p", p=public_id.hex)

    @app.get("/search")
    def search(ctx: ViewerContext, session: DbSession, q: str = Query(min_length=2)):
        rows = session.execute(text("SELECT id FROM projects WHERE name LIKE :q"),
                               {"q": f"%{q}%"})
        return {"query": q, "ids": [r.id for r in rows]}

    @app.post("/tagging")
    def tagging(body: Tagging, ctx: MemberContext, session: DbSession):
        return _one(session, "SELECT id FROM tasks WHERE id = :t", t=body.task_ids[0])

    @app.patch("/projects/{project_id}", status_code=204)
    def rename(project_id: int, body: Rename, ctx: MemberContext, session: DbSession):
        if body.name is not None:
            session.execute(text("UPDATE projects SET name = :n WHERE id = :i"),
                            {"n": body.name, "i": project_id})
        return Response(status_code=204)

    @app.get("/tasks/{task_id}/picks")
    def picks(task_id: int, body: Pick, ctx: ViewerContext, session: DbSession):
        return _one(session, "SELECT id FROM tasks WHERE id = :t", t=task_id)

    @app.put("/tasks/{task_id}/links")
    def links(task_id: int, body: Linking, ctx: MemberContext, session: DbSession):
        # The task is the caller's (the ORM's wall); the remarks are read in raw SQL.
        if session.scalar(select(Task.id).where(Task.id == task_id)) is None:
            raise NotFound("no such task")
        return _one(session, "SELECT id FROM remarks WHERE id = :r", r=body.remark_ids[0])

    @app.get("/search/own")
    def own_search(ctx: ViewerContext, session: DbSession, q: str = Query(min_length=2)):
        # Correct, and echoes its text normalised (lower-cased).
        rows = session.scalars(select(Project.id).where(Project.name.contains(q)))
        return {"query": " ".join(q.split()).lower(), "ids": list(rows)}

    @app.get("/feed")
    def feed(ctx: ViewerContext, session: DbSession, after_id: int = Query(0, ge=0)):
        # Correct keyset paging: after_id is a bound, not an object.
        return list(session.scalars(select(Project.id).where(Project.id > after_id)))

    calls = {"n": 0}

    @app.get("/ticking")
    def ticking(ctx: ViewerContext, session: DbSession, task_id: int | None = None):
        # Correct, with a clock that ticks every third request (a time to the second).
        calls["n"] += 1
        found = select(func.count()).select_from(Task).where(Task.id == task_id)
        return {"tick": calls["n"] // 3, "tasks": session.scalar(found)}

    @app.post("/keyed", status_code=201)
    def keyed(ctx: MemberContext, session: DbSession,
              key: Annotated[str, Header(alias="Idempotency-Key")],
              body: Rename):
        # Correct; needs a header, and a body field whose examples sit beside its anyOf.
        return {"key": key}

    @app.get("/reports/{year}/{month}")
    def report(ctx: ViewerContext, session: DbSession,
               year: int = Path(ge=2000, le=2100), month: int = Path(ge=1, le=12)):
        # A total over every tenant behind numbers no id fits.
        return {"projects": session.scalar(text("SELECT count(*) FROM projects"))}

    @app.get("/own/projects/{project_id}/tasks/{task_id}")
    def own_task(project_id: int, task_id: int, ctx: ViewerContext, session: DbSession):
        found = session.scalar(
            select(Task.id).where(Task.project_id == project_id, Task.id == task_id)
        )
        if found is None:
            raise NotFound("no such task")
        return found

    return app
"""
TEST = """
import json
import warnings


def test_print_findings(tenantry_attack):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        findings = tenantry_attack()
    unreached = [str(w.message) for w in caught if w.category.__name__ == "UnreachedRoute"]
    print("FINDINGS=" + json.dumps({"findings": findings, "unreached": unreached}))
"""


def _attack(tmp_path: Path) -> dict[str, list[str]]:
    run = run_suite(tmp_path, APP, TEST, "-s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    line = next(x for x in run.stdout.splitlines() if "FINDINGS=" in x)
    found: dict[str, list[str]] = json.loads(line.split("FINDINGS=", 1)[1])
    return found


def _about(route: str, findings: list[str]) -> list[str]:
    return [f.split(" (sent: ", 1)[0] for f in findings if f.startswith(route)]


def test_what_the_attack_reaches(tmp_path: Path) -> None:
    result = _attack(tmp_path)
    findings = result["findings"]
    nested = "GET /projects/{project_id}/tasks/{task_id}/remarks/{remark_id}"
    assert (
        f"{nested} with its own first 1 ids and the victim's after them answered 200, a "
        "missing id 404" in _about(nested, findings)
    ), findings
    assert _about("GET /public/{public_id}", findings) == [
        "GET /public/{public_id} with a victim id answered 200, a missing id 404"
    ]
    assert _about("GET /search", findings) == [
        "GET /search: the victim's text and a missing id both answered 200, with different bodies"
    ]
    assert _about("POST /tagging", findings) == [
        "POST /tagging with a victim id answered 200, a missing id 404"
    ]
    assert _about("PATCH /projects/{project_id}", findings) == [
        "PATCH /projects/{project_id} changed the victim's data"
    ]
    assert _about("PUT /tasks/{task_id}/links", findings) == [
        "PUT /tasks/{task_id}/links with its own object and a victim id answered 200, "
        "a missing id 404"
    ]
    assert _about("GET /reports/{year}/{month}", findings) == [
        "GET /reports/{year}/{month} answered differently once the victim had more rows"
    ]
    # The correct routes: a nested lookup, a search echoing its text lower-cased, keyset
    # paging, a clock in a body, a header and a patterned field.
    for route in ("GET /own/", "GET /search/own", "GET /feed", "GET /ticking", "POST /keyed"):
        assert _about(route, findings) == [], route


def test_a_finding_quotes_a_request_that_shows_it(tmp_path: Path) -> None:
    findings = _attack(tmp_path)["findings"]
    tagging = next(f for f in findings if f.startswith("POST /tagging"))
    sent = tagging.split(" (sent: ", 1)[1]
    assert sent.startswith('POST /tagging {"task_ids": [') and sent.endswith("]})")


def test_a_route_no_request_gets_past_the_validation_of_is_named(tmp_path: Path) -> None:
    unreached = _attack(tmp_path)["unreached"]
    assert len(unreached) == 1, unreached
    assert "GET /tasks/{task_id}/picks: sent GET /tasks/" in unreached[0]
    assert "search" not in unreached[0]  # its q got an example of the right length
    assert "keyed" not in unreached[0]  # its header and its example were sent
