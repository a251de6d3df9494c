"""The peer: fastapi-tenancy 0.5 in its shared-table RLS mode, serving the same readings page.

Runs only in its own virtual environment (bench/peer.py makes it under the bench data
dir); fastapi-tenancy never enters the project's dependencies. The tenant comes from
the JWT (its ``JWTTenantResolver``, by slug), its RLS provider sets
``app.current_tenant`` per transaction, and the page, count and membership check
are the same statements as the hand-written app's, without a tenant filter: the
policy supplies it.

``python -m bench.peer_app setup`` (owner URL in BENCH_URL, tenants as JSON lines on
stdin) creates its tenant store table and rows; ``uvicorn bench.peer_app:app`` serves.
BENCH_PEER_L1=1 switches on its in-process tenant cache.
"""

# No ``from __future__ import annotations``: the route's dependency is a local of build(),
# which FastAPI could not resolve from a string annotation.
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import ORJSONResponse
from fastapi_tenancy import TenancyConfig, TenancyManager, Tenant, TenantStatus
from fastapi_tenancy.dependencies import make_tenant_db_dependency
from fastapi_tenancy.middleware.tenancy import TenancyMiddleware
from fastapi_tenancy.storage.database import SQLAlchemyTenantStore
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

URL = os.environ.get("BENCH_URL", "")
SECRET = os.environ.get("BENCH_SECRET", "")

PAGE = text(
    "SELECT r.id, r.read_at, r.meter_wh, r.note, r.is_replacement, r.user_id,"
    " CASE WHEN r.is_replacement THEN 0 ELSE r.meter_wh - (SELECT p.meter_wh FROM readings p"
    " WHERE p.read_at <= r.read_at AND (p.read_at < r.read_at OR p.id < r.id)"
    " ORDER BY p.read_at DESC, p.id DESC LIMIT 1) END AS consumed"
    " FROM readings r ORDER BY r.read_at DESC, r.id LIMIT :limit OFFSET :offset"
).bindparams(bindparam("limit"), bindparam("offset"))
COUNT = text("SELECT count(id) FROM readings")
MEMBER = text(
    "SELECT role FROM tenantry_memberships WHERE tenant_id = CAST(:t AS uuid) AND user_id = :u"
)


def _config() -> TenancyConfig:
    return TenancyConfig(
        database_url=URL,
        resolution_strategy="jwt",
        isolation_strategy="rls",
        jwt_secret=SECRET,
        jwt_tenant_claim="slug",
        jwt_audience="tenantry-api",
        l1_cache_enabled=os.environ.get("BENCH_PEER_L1") == "1",
    )


def _kwh(wh: int) -> str:
    return f"{wh // 1000}.{wh % 1000:03d}"


def build() -> FastAPI:
    config = _config()
    store = SQLAlchemyTenantStore(URL)
    manager = TenancyManager(config, store)
    tenant_db = make_tenant_db_dependency(manager)
    api = FastAPI(lifespan=manager.create_lifespan(), default_response_class=ORJSONResponse)
    api.add_middleware(TenancyMiddleware, manager=manager)

    @api.get("/api/readings")
    async def list_readings(
        request: Request,
        session: Annotated[AsyncSession, Depends(tenant_db)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        # The resolver verified the token; read the user from it for the membership check.
        token = request.headers["authorization"].partition(" ")[2]
        claims = jwt.decode(token, options={"verify_signature": False})
        role = await session.execute(MEMBER, {"t": claims["tenant"], "u": int(claims["sub"])})
        if role.first() is None:
            raise HTTPException(404, "tenant_not_found")
        rows = (await session.execute(PAGE, {"limit": limit, "offset": offset})).all()
        total = (await session.execute(COUNT)).scalar_one()
        items = [
            {
                "id": r.id,
                "read_at": r.read_at,
                "meter_kwh": _kwh(r.meter_wh),
                "note": r.note,
                "is_replacement": r.is_replacement,
                "created_by": r.user_id,
                "consumed_kwh": None if r.consumed is None else _kwh(r.consumed),
            }
            for r in rows
        ]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


async def setup(lines: list[str]) -> None:
    """Create the tenant store's table and one tenant per line ``{"id", "slug"}``."""
    store = SQLAlchemyTenantStore(URL)
    await store.initialize()
    now = datetime.now(UTC)
    for line in lines:
        t = json.loads(line)
        await store.create(
            Tenant(
                id=t["id"],
                identifier=t["slug"],
                name=t["slug"],
                status=TenantStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
        )
    await store.close()


if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    asyncio.run(setup(sys.stdin.read().splitlines()))
else:
    app = build()
