"""The bare stack: Starlette + sqlite3 + PyJWT + orjson, the same SQL as meterbook's readings.

Run with ``BENCH_DB=… BENCH_SECRET=… uvicorn bench.baseline_app:app``. It verifies the
same JWT (HS256, audience, issuer, required claims), checks the membership with the
same join tenantry uses, then runs the statements tenantry's ORM emits for
``GET /api/readings?limit=50`` and ``POST /api/readings``. No ORM, no scoping, no DI.
"""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET = os.environ["BENCH_SECRET"]
REQUIRED = ["sub", "tenant", "role", "exp", "iat", "jti", "aud", "iss"]
STAMP = "%Y-%m-%d %H:%M:%S.%f"

_con = sqlite3.connect(os.environ["BENCH_DB"], isolation_level=None, check_same_thread=False)
_con.execute("PRAGMA journal_mode=WAL")
_con.execute("PRAGMA synchronous=NORMAL")
_con.execute("PRAGMA foreign_keys=ON")
_con.execute("PRAGMA busy_timeout=10000")

PREVIOUS = (
    "SELECT p.meter_wh FROM readings AS p WHERE p.read_at <= readings.read_at"
    " AND (p.read_at < readings.read_at OR p.id < readings.id) AND p.tenant_id = ?"
    " ORDER BY p.read_at DESC, p.id DESC LIMIT 1"
)
PAGE = (
    "SELECT readings.id, readings.read_at, readings.meter_wh, readings.note,"
    " readings.is_replacement, readings.user_id, CASE WHEN readings.is_replacement THEN 0"
    f" ELSE readings.meter_wh - ({PREVIOUS}) END AS consumed_wh FROM readings"
    " WHERE readings.tenant_id = ? ORDER BY readings.read_at DESC, readings.id LIMIT ? OFFSET ?"
)
COUNT = "SELECT count(readings.id) FROM readings WHERE readings.tenant_id = ?"
MEMBER = (
    "SELECT t.id, t.status, m.role FROM tenantry_tenants t JOIN tenantry_memberships m"
    " ON m.tenant_id = t.id WHERE t.id = ? AND m.user_id = ?"
)
NEIGHBOUR = (
    "SELECT read_at, meter_wh, is_replacement FROM readings WHERE tenant_id = ?"
    " AND read_at {op} ? ORDER BY read_at {dir} LIMIT 1"
)
BEFORE = NEIGHBOUR.format(op="<=", dir="DESC")
AFTER = NEIGHBOUR.format(op=">", dir="ASC")
INSERT = (
    "INSERT INTO readings (tenant_id, id, read_at, meter_wh, note, is_replacement, user_id,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _error(status: int, code: str) -> Response:
    return Response(orjson.dumps({"error": code}), status, media_type="application/json")


def _auth(request: Request) -> tuple[str, int] | Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return _error(401, "authentication_failed")
    try:
        claims = jwt.decode(
            token.strip(),
            SECRET,
            algorithms=["HS256"],
            audience="tenantry-api",
            issuer="tenantry",
            options={"require": REQUIRED},
        )
        tenant = uuid.UUID(claims["tenant"]).hex
        user = int(claims["sub"])
    except (jwt.PyJWTError, ValueError, KeyError):
        return _error(401, "authentication_failed")
    row = _con.execute(MEMBER, (tenant, user)).fetchone()
    if row is None:
        return _error(404, "tenant_not_found")
    if row[1] != "active":
        return _error(403, "permission_denied")
    return tenant, user


def _iso(stamp: str) -> str:
    return stamp.replace(" ", "T") + "+00:00"


def _kwh(wh: int) -> str:
    return f"{wh // 1000}.{wh % 1000:03d}"


async def list_readings(request: Request) -> Response:
    auth = _auth(request)
    if isinstance(auth, Response):
        return auth
    tenant, _ = auth
    limit = min(500, max(1, int(request.query_params.get("limit", 50))))
    offset = max(0, int(request.query_params.get("offset", 0)))
    items = [
        {
            "id": i,
            "read_at": _iso(at),
            "meter_kwh": _kwh(wh),
            "note": note,
            "is_replacement": bool(rep),
            "created_by": by,
            "consumed_kwh": None if used is None else _kwh(used),
        }
        for i, at, wh, note, rep, by, used in _con.execute(PAGE, (tenant, tenant, limit, offset))
    ]
    total = _con.execute(COUNT, (tenant,)).fetchone()[0]
    body = {"items": items, "total": total, "limit": limit, "offset": offset}
    return Response(orjson.dumps(body), media_type="application/json")


async def create_reading(request: Request) -> Response:
    auth = _auth(request)
    if isinstance(auth, Response):
        return auth
    tenant, user = auth
    data = orjson.loads(await request.body())
    read_at = datetime.fromisoformat(data["read_at"]).astimezone(UTC)
    wh = int(Decimal(str(data["meter_kwh"])) * 1000)
    replacement = bool(data.get("is_replacement", False))
    note = str(data.get("note", ""))
    stamp = read_at.replace(tzinfo=None).strftime(STAMP)
    now = datetime.now(UTC).replace(tzinfo=None).strftime(STAMP)
    _con.execute("BEGIN IMMEDIATE")
    try:
        before = _con.execute(BEFORE, (tenant, stamp)).fetchone()
        after = _con.execute(AFTER, (tenant, stamp)).fetchone()
        if (before and before[0] == stamp) or (after and after[0] == stamp):
            _con.execute("ROLLBACK")
            return _error(422, "validation_failed")
        if (before and wh < before[1] and not replacement) or (
            after and after[1] < wh and not after[2]
        ):
            _con.execute("ROLLBACK")
            return _error(422, "validation_failed")
        row_id = random.randrange(1, 2**53)
        _con.execute(INSERT, (tenant, row_id, stamp, wh, note, replacement, user, now))
        _con.execute("COMMIT")
    except BaseException:
        _con.execute("ROLLBACK")
        raise
    body = {
        "id": row_id,
        "read_at": read_at.isoformat(),
        "meter_kwh": _kwh(wh),
        "note": note,
        "is_replacement": replacement,
        "created_by": user,
        "created_at": _iso(now),
    }
    return Response(orjson.dumps(body), 201, media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/readings", list_readings, methods=["GET"]),
        Route("/api/readings", create_reading, methods=["POST"]),
    ]
)
