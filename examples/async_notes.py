"""The notes example with async routes: `pip install 'tenantry[async]'`, then
`python examples/async_notes.py` and /docs. Notebooks and their pages, each tenant's own."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.migrations.runner import upgrade
from tenantry.models import Base, TenantScoped, tenant_foreign_key
from tenantry.models.base import RowId
from tenantry.web import AsyncDbSession, Input, MemberContext, Tenancy, TenancyConfig, ViewerContext


class Notebook(TenantScoped, Base):  # primary key (tenant_id, id); every query is scoped
    __tablename__ = "example_notebooks"
    title: Mapped[str]
    # Ids are random 53-bit numbers, no order to read from them: pages in their text's order.
    pages: Mapped[list[Page]] = relationship(back_populates="notebook", order_by="Page.body")


class Page(TenantScoped, Base):
    __tablename__ = "example_pages"
    # (tenant_id, notebook_id) -> (tenant_id, id): a page can only be in its tenant's notebook.
    __table_args__ = (tenant_foreign_key("notebook_id", "example_notebooks"),)
    notebook_id: Mapped[int] = mapped_column(RowId)
    body: Mapped[str]
    notebook: Mapped[Notebook] = relationship(back_populates="pages")


class TextIn(Input):  # unknown fields (a tenant_id) are refused
    text: str


def create_app(database_url: str, secret_key: str) -> FastAPI:
    db = Database(database_url)
    upgrade(db.engine)  # tenantry's tables; yours come from your own Alembic migrations
    Base.metadata.create_all(db.engine, tables=[Notebook.__table__, Page.__table__])
    app = FastAPI(title="notebooks")
    Tenancy(db, TenancyConfig(secret_key=secret_key)).install(app)

    async def find(session: AsyncDbSession, ctx: ViewerContext, notebook_id: int) -> Notebook:
        notebook = await session.get(Notebook, (ctx.tenant_id, notebook_id))  # the whole key
        if notebook is None:  # another tenant's id looks exactly like a missing one
            raise NotFound("notebook not found")
        return notebook

    @app.post("/notebooks", status_code=201)
    async def add_notebook(body: TextIn, ctx: MemberContext, session: AsyncDbSession) -> int:
        session.add(notebook := Notebook(title=body.text))  # tenant_id from the context
        await session.flush()
        return notebook.id

    @app.post("/notebooks/{notebook_id}/pages", status_code=201)
    async def add_page(
        notebook_id: int, body: TextIn, ctx: MemberContext, session: AsyncDbSession
    ) -> int:
        notebook = await find(session, ctx, notebook_id)
        session.add(page := Page(notebook_id=notebook.id, body=body.text))
        await session.flush()
        return page.id

    @app.get("/notebooks/{notebook_id}")
    async def read_notebook(
        notebook_id: int, ctx: ViewerContext, session: AsyncDbSession
    ) -> dict[str, object]:
        # Async sessions load nothing lazily: ask for the pages with the notebook.
        query = select(Notebook).where(Notebook.id == notebook_id)
        notebook = (await session.scalars(query.options(selectinload(Notebook.pages)))).first()
        if notebook is None:
            raise NotFound("notebook not found")
        return {"title": notebook.title, "pages": [p.body for p in notebook.pages]}

    return app


if __name__ == "__main__":
    key = os.environ.get("TENANTRY_SECRET_KEY", "example-only-key-" + "x" * 32)
    url = "sqlite:///async-example.sqlite3"
    uvicorn.run(create_app(url, key), port=int(os.getenv("PORT", "8001")))
