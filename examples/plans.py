"""Plans on tenantry: a catalogue, a row quota, a feature flag. Run `python examples/plans.py`."""

from __future__ import annotations

import os

import uvicorn
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Mapped

from tenantry.db import Database
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped
from tenantry.plans import MEMBERS, Catalogue, Plan, rows_limit
from tenantry.web import DbSession, MemberContext, Tenancy, TenancyConfig, requires_feature

CATALOGUE = Catalogue.of(
    [
        Plan(name="free", limits={MEMBERS: 2, rows_limit("example_tasks"): 3}),
        Plan(name="team", limits={MEMBERS: 10}, features=frozenset({"export_csv"}), trial_days=14),
    ]
)


class Task(TenantScoped, Base):
    __tablename__ = "example_tasks"
    __quota__ = rows_limit("example_tasks")  # every insert is counted against the plan
    title: Mapped[str]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str


def create_app(database_url: str, secret_key: str) -> FastAPI:
    db = Database(database_url)
    upgrade(db.engine)
    Task.__table__.create(db.engine, checkfirst=True)  # brevity: no migration
    app = FastAPI(title="plans example")
    Tenancy(db, TenancyConfig(secret_key=secret_key), catalogue=CATALOGUE).install(app)

    @app.post("/tasks", status_code=201)
    def add_task(body: TaskIn, ctx: MemberContext, session: DbSession) -> int:
        session.add(task := Task(title=body.title))  # the 4th on Free: 402 quota_exceeded
        session.flush()
        return task.id

    @app.get("/tasks.csv", dependencies=[Depends(requires_feature("export_csv"))])
    def export(ctx: MemberContext, session: DbSession) -> str:
        return "\n".join(t.title for t in session.query(Task).order_by(Task.id))

    return app


if __name__ == "__main__":
    key = os.environ.get("TENANTRY_SECRET_KEY", "example-only-key-" + "x" * 32)
    uvicorn.run(create_app("sqlite:///plans-example.sqlite3", key), port=8002)
