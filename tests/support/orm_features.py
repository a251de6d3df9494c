"""SQLAlchemy features that reach tenant rows around the loader criteria, tried from a
second tenant and with no tenant context; run as a script (``python -m``) so its models,
with inheritance, expressions and a shared class reading tenant rows, never join the
test suite's ``Base`` (every test database is made from it with ``create_all``).

Prints one JSON object: each case's rows, or the name of the error it raised. SQLite
only: there the scoping hook is the only wall (RLS backs it up on PostgreSQL).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ForeignKeyConstraint, String, column, false, func, select, table
from sqlalchemy.orm import (
    Mapped,
    Session,
    column_property,
    join,
    mapped_column,
    query_expression,
    relationship,
    with_expression,
    with_polymorphic,
)

from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, Tenant, TenantScoped, tenant_foreign_key
from tenantry.models.base import RowId
from tenantry.roles import Role
from tenantry.scoping import unscoped


class Folder(TenantScoped, Base):
    __tablename__ = "of_folders"

    name: Mapped[str] = mapped_column(String(50))
    docs: Mapped[list[Doc]] = relationship(order_by="Doc.title", viewonly=True)
    # Every doc whose folder id is this folder's, whatever its tenant: a careless relationship
    same_id_docs: Mapped[list[Doc]] = relationship(
        primaryjoin="foreign(Doc.folder_id) == Folder.id", viewonly=True, order_by="Doc.title"
    )
    score: Mapped[int | None] = query_expression()


class Doc(TenantScoped, Base):
    __tablename__ = "of_docs"
    __table_args__ = (tenant_foreign_key("folder_id", "of_folders"),)

    folder_id: Mapped[int] = mapped_column(RowId)
    title: Mapped[str] = mapped_column(String(50))


class Label(Base):
    """Shared by every tenant, with a column reading a tenant table."""

    __tablename__ = "of_labels"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    doc_count: Mapped[int] = column_property(select(func.count(Doc.id)).scalar_subquery())
    weight: Mapped[int | None] = query_expression()


class Vehicle(TenantScoped, Base):
    __tablename__ = "of_vehicles"

    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(50))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "vehicle"}


class Car(Vehicle):
    __tablename__ = "of_cars"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "id"], ["of_vehicles.tenant_id", "of_vehicles.id"], ondelete="CASCADE"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    wheels: Mapped[int]
    __mapper_args__ = {"polymorphic_identity": "car"}


def _seed(db: Database) -> tuple[TenantContext, TenantContext]:
    with db.session() as s:
        a, b = Tenant(slug="a", name="A"), Tenant(slug="b", name="B")
        s.add_all([a, b, Label(code="x")])
    contexts = []
    for tenant, who in ((a, "A"), (b, "B")):
        ctx = TenantContext(tenant.id, None, Role.OWNER)  # type: ignore[arg-type]
        contexts.append(ctx)
        with tenant_scope(ctx), db.session() as s:
            s.add(Folder(id=10, name=f"{who}-folder"))  # the same id in both tenants
            s.flush()
            s.add_all([Doc(folder_id=10, title=f"{who}-doc-{i}") for i in (1, 2)])
            s.add(Car(name=f"{who}-car", wheels=4))
    return contexts[0], contexts[1]


def _cases(a: TenantContext) -> dict[str, tuple[TenantContext | None, Callable[[Session], Any]]]:
    count_docs = select(func.count(Doc.id)).scalar_subquery()
    return {
        "with_expression": (
            a,
            lambda s: [
                (f.name, f.score)
                for f in s.scalars(
                    select(Folder).options(with_expression(Folder.score, count_docs))
                )
            ],
        ),
        "with_expression_shared_no_context": (
            None,
            lambda s: [
                (lb.code, lb.weight)
                for lb in s.scalars(
                    select(Label).options(with_expression(Label.weight, count_docs))
                )
            ],
        ),
        "full_join_to_tenant": (
            a,
            lambda s: s.scalars(
                select(Doc.title).select_from(Label).join(Doc, false(), full=True)
            ).all(),
        ),
        "full_join_object_to_tenant": (
            a,
            lambda s: s.scalars(
                select(Doc.title).select_from(join(Label, Doc, false(), full=True))
            ).all(),
        ),
        "full_join_from_tenant": (
            a,
            lambda s: sorted(
                s.scalars(select(Doc.title).join(Label, false(), full=True)).all(),
                key=str,
            ),
        ),
        "table_name_other_case": (
            a,
            lambda s: s.scalars(select(column("title")).select_from(table("OF_DOCS"))).all(),
        ),
        "table_name_other_case_no_context": (
            None,
            lambda s: s.scalars(select(column("title")).select_from(table("OF_DOCS"))).all(),
        ),
        "table_name_main_schema": (
            a,
            lambda s: s.scalars(
                select(column("title")).select_from(table("of_docs", schema="main"))
            ).all(),
        ),
        "shared_column_property_no_context": (
            None,
            lambda s: [(lb.code, lb.doc_count) for lb in s.scalars(select(Label))],
        ),
        "shared_column_property": (
            a,
            lambda s: [(lb.code, lb.doc_count) for lb in s.scalars(select(Label))],
        ),
        "joined_inheritance": (a, lambda s: [c.name for c in s.scalars(select(Car))]),
        "joined_inheritance_polymorphic": (
            a,
            lambda s: [v.name for v in s.scalars(select(with_polymorphic(Vehicle, [Car])))],
        ),
    }


def _lazy_load_inside_unscoped(db: Database, a: TenantContext) -> list[str]:
    with tenant_scope(a), db.sessions() as s:
        folder = s.scalars(select(Folder)).one()
        with unscoped(s, reason="test: a lazy load inside"):
            return [d.title for d in folder.docs]


def _loaded_inside_unscoped_used_after(db: Database, a: TenantContext) -> list[str]:
    with tenant_scope(a), db.sessions() as s:
        s.scalars(select(Doc.id)).all()  # the session serves A
        with unscoped(s, reason="test: loaded inside, used after"):
            held = s.scalars(select(Folder).where(Folder.tenant_id == a.tenant_id)).one()
            assert len(held.same_id_docs) == 4  # both tenants' docs
        folder = s.scalars(select(Folder)).one()  # the same object, scoped again
        assert folder is held
        return [d.title for d in folder.same_id_docs]


def main(path: str) -> None:
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    tables = [Folder.__table__, Doc.__table__, Label.__table__, Vehicle.__table__]
    Base.metadata.create_all(db.engine, tables=[*tables, Car.__table__])  # type: ignore[list-item]
    a, _b = _seed(db)
    cases: dict[str, Callable[[], Any]] = {
        name: (lambda ctx=ctx, run=run: _in_session(db, ctx, run))
        for name, (ctx, run) in _cases(a).items()
    }
    cases["unscoped_lazy_load"] = lambda: _lazy_load_inside_unscoped(db, a)
    cases["after_unscoped"] = lambda: _loaded_inside_unscoped_used_after(db, a)
    results: dict[str, Any] = {}
    for name, case in cases.items():
        try:
            results[name] = case()
        except Exception as exc:  # the case's answer: which error
            results[name] = type(exc).__name__
    print(json.dumps(results))


def _in_session(db: Database, ctx: TenantContext | None, run: Callable[[Session], Any]) -> Any:
    if ctx is None:
        with db.sessions() as s:
            return run(s)
    with tenant_scope(ctx), db.sessions() as s:
        return run(s)


if __name__ == "__main__":
    main(sys.argv[1])
