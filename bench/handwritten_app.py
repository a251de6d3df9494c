"""What a user would write by hand: FastAPI + async SQLAlchemy, ``WHERE tenant_id = :t`` typed in.

The same work as meterbook's ``GET /api/readings?limit=50`` and ``POST /api/readings``:
the tenant from the JWT (PyJWT, same claims), a membership check, the page with each
row's consumption since the reading before (the same correlated lookup), the count,
and on POST the neighbour checks and an insert. No tenancy library: every statement
carries the tenant filter written by hand.

Run with ``BENCH_URL=sqlite+aiosqlite:///… | postgresql+asyncpg://… BENCH_SECRET=…
uvicorn bench.handwritten_app:app``. On SQLite reads open a deferred transaction and
writes ``BEGIN IMMEDIATE`` (the usual recipe); on PostgreSQL it connects as a role
that is not subject to row-level security, since it filters by hand.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import ORJSONResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    Text,
    Uuid,
    bindparam,
    case,
    event,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column

SECRET = os.environ.get("BENCH_SECRET", "")
URL = os.environ.get("BENCH_URL", "sqlite+aiosqlite:///var/bench.sqlite3")
REQUIRED = ["sub", "tenant", "role", "exp", "iat", "jti", "aud", "iss"]


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenantry_tenants"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))


class Membership(Base):
    __tablename__ = "tenantry_memberships"
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class Reading(Base):
    __tablename__ = "readings"
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    meter_wh: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    is_replacement: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _engine(immediate: bool) -> AsyncEngine:
    if not URL.startswith("sqlite"):
        return create_async_engine(URL, pool_size=10, max_overflow=10)
    engine = create_async_engine(URL, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


READS = async_sessionmaker(_engine(immediate=False), expire_on_commit=False)
WRITES = (
    async_sessionmaker(_engine(immediate=True), expire_on_commit=False)
    if URL.startswith("sqlite")
    else READS
)

# Built once, values bound per request; the tenant filter is in every statement.
_prev = aliased(Reading)
PREVIOUS = (
    select(_prev.meter_wh)
    .where(
        _prev.tenant_id == bindparam("t"),
        _prev.read_at <= Reading.read_at,
        or_(_prev.read_at < Reading.read_at, _prev.id < Reading.id),
    )
    .order_by(_prev.read_at.desc(), _prev.id.desc())
    .limit(1)
    .correlate(Reading)
    .scalar_subquery()
)
PAGE = (
    select(
        Reading.id,
        Reading.read_at,
        Reading.meter_wh,
        Reading.note,
        Reading.is_replacement,
        Reading.user_id,
        case((Reading.is_replacement, 0), else_=Reading.meter_wh - PREVIOUS).label("consumed"),
    )
    .where(Reading.tenant_id == bindparam("t"))
    .order_by(Reading.read_at.desc(), Reading.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
COUNT = select(func.count(Reading.id)).where(Reading.tenant_id == bindparam("t"))
MEMBER = (
    select(Tenant.status, Membership.role)
    .join(Membership, Membership.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("t"), Membership.user_id == bindparam("u"))
)
_cols = select(Reading.read_at, Reading.meter_wh, Reading.is_replacement).where(
    Reading.tenant_id == bindparam("t")
)
BEFORE = _cols.where(Reading.read_at <= bindparam("at")).order_by(Reading.read_at.desc()).limit(1)
AFTER = _cols.where(Reading.read_at > bindparam("at")).order_by(Reading.read_at.asc()).limit(1)


async def read_session() -> AsyncIterator[AsyncSession]:
    async with READS() as session:
        yield session


async def write_session() -> AsyncIterator[AsyncSession]:
    async with WRITES() as session:
        yield session


class Caller(BaseModel):
    tenant: uuid.UUID
    user: int
    role: str


async def _claims(request: Request) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise HTTPException(401, "authentication_failed")
    try:
        claims = jwt.decode(
            token.strip(),
            SECRET,
            algorithms=["HS256"],
            audience="tenantry-api",
            issuer="tenantry",
            options={"require": REQUIRED},
        )
        return Caller(tenant=uuid.UUID(claims["tenant"]), user=int(claims["sub"]), role="")
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise HTTPException(401, "authentication_failed") from exc


async def _member(session: AsyncSession, caller: Caller) -> Caller:
    row = (await session.execute(MEMBER, {"t": caller.tenant, "u": caller.user})).first()
    if row is None:
        raise HTTPException(404, "tenant_not_found")
    if row.status != "active":
        raise HTTPException(403, "permission_denied")
    return caller.model_copy(update={"role": row.role})


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive UTC text, PostgreSQL aware datetimes."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _kwh(wh: int) -> str:
    return f"{wh // 1000}.{wh % 1000:03d}"


class ReadingIn(BaseModel):
    read_at: AwareDatetime
    meter_kwh: Decimal
    note: str = Field(default="", max_length=2000)
    is_replacement: bool = False


app = FastAPI(default_response_class=ORJSONResponse)


@app.get("/api/readings")
async def list_readings(
    claims: Annotated[Caller, Depends(_claims)],
    session: Annotated[AsyncSession, Depends(read_session)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    caller = await _member(session, claims)
    params = {"t": caller.tenant, "limit": limit, "offset": offset}
    rows = (await session.execute(PAGE, params)).all()
    total = (await session.execute(COUNT, {"t": caller.tenant})).scalar_one()
    items = [
        {
            "id": r.id,
            "read_at": _utc(r.read_at),
            "meter_kwh": _kwh(r.meter_wh),
            "note": r.note,
            "is_replacement": r.is_replacement,
            "created_by": r.user_id,
            "consumed_kwh": None if r.consumed is None else _kwh(r.consumed),
        }
        for r in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@app.post("/api/readings", status_code=201)
async def create_reading(
    body: ReadingIn,
    claims: Annotated[Caller, Depends(_claims)],
    session: Annotated[AsyncSession, Depends(write_session)],
) -> Any:
    caller = await _member(session, claims)
    if caller.role == "viewer":
        raise HTTPException(403, "permission_denied")
    at = body.read_at.astimezone(UTC)
    wh = int(body.meter_kwh * 1000)
    before = (await session.execute(BEFORE, {"t": caller.tenant, "at": at})).first()
    after = (await session.execute(AFTER, {"t": caller.tenant, "at": at})).first()
    if (before is not None and _utc(before.read_at) == at) or (
        after is not None and _utc(after.read_at) == at
    ):
        raise HTTPException(422, "validation_failed: a reading at that time exists")
    if (before is not None and wh < before.meter_wh and not body.is_replacement) or (
        after is not None and after.meter_wh < wh and not after.is_replacement
    ):
        raise HTTPException(422, "validation_failed: the meter cannot run backwards")
    reading = Reading(
        tenant_id=caller.tenant,
        id=random.randrange(1, 2**53),
        read_at=at,
        meter_wh=wh,
        note=body.note,
        is_replacement=body.is_replacement,
        user_id=caller.user,
        created_at=datetime.now(UTC),
    )
    session.add(reading)
    await session.commit()
    return {
        "id": reading.id,
        "read_at": body.read_at,
        "meter_kwh": _kwh(wh),
        "note": reading.note,
        "is_replacement": reading.is_replacement,
        "created_by": caller.user,
        "created_at": reading.created_at,
    }
