"""The operator console's tenant list at 100,000 tenants: ``python -m bench.console``.

Times ``tenantry.fleet.list_tenants`` (a 50-tenant page with members, rows per
table, bytes and activity, plus the total count) on the first page, a page deep
in the order reached by keyset, other sorts and searches; and, for contrast, the
same deep page fetched by OFFSET. Prints milliseconds (median of BENCH_REPEAT)
and the deep/first ratio. BENCH_CONSOLE_TENANTS and BENCH_CONSOLE_ROWS size it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bench.datagen import generate
from tenantry.db import Database
from tenantry.fleet import FleetStats, list_tenants
from tenantry.models import Tenant
from tenantry_server.app import default_plugins, migrate
from tenantry_server.settings import Settings

TENANTS = int(os.environ.get("BENCH_CONSOLE_TENANTS", "100000"))
ROWS = int(os.environ.get("BENCH_CONSOLE_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
PATH = Path(os.environ.get("BENCH_DATA", "/tmp/tenantry-bench")) / "console.sqlite3"


def _fixture_size() -> int | None:
    if not PATH.exists():
        return None
    with sqlite3.connect(PATH) as con:
        try:
            return int(con.execute("SELECT count(*) FROM tenantry_tenants").fetchone()[0])
        except sqlite3.Error:
            return None


def timed(db: Database, work: Callable[..., object]) -> float:
    runs = []
    for _ in range(REPEAT):
        with db.sessions() as session:
            started = time.perf_counter()
            work(session)
            runs.append(time.perf_counter() - started)
            session.rollback()  # the audit events of the reads are not kept
    return statistics.median(runs) * 1000


def main() -> None:
    logging.getLogger("tenantry.scoping").setLevel(logging.ERROR)  # one warning per page
    if _fixture_size() == TENANTS:  # a fixture of the right size is reused, migrated
        migrate(Settings(database_url=f"sqlite:///{PATH}", secret_key="x" * 40), default_plugins())
    else:
        started = time.perf_counter()
        generate(PATH, TENANTS, ROWS)
        took = time.perf_counter() - started
        print(f"fixture: {TENANTS:,} tenants, {ROWS:,} readings in {took:.0f} s")
    db = Database(f"sqlite:///{PATH}")
    sizes = FleetStats(ttl=3600)
    with db.sessions() as session:
        sizes.get(session)  # measured once per minute in the server; not part of a page
        session.rollback()

    def page(**kw: object) -> Callable[..., object]:
        return lambda s: list_tenants(s, actor_id=1, sizes=sizes, **kw)  # type: ignore[arg-type]

    # A cursor 90 % of the way down the default order, by walking with keyset once.
    with db.sessions() as session:
        deep_id = session.scalars(
            select(Tenant.id)
            .order_by(Tenant.created_at.desc(), Tenant.id.desc())
            .offset(int(TENANTS * 0.9))
            .limit(1)
        ).one()
        deep = session.get(Tenant, deep_id)
        assert deep is not None
        from tenantry.fleet import _encode, _order

        cursor = _encode(deep.created_at, deep.id, _order("created", descending=True))
        session.rollback()

    def offset_page(session: object) -> object:
        return list(
            session.scalars(  # type: ignore[attr-defined]
                select(Tenant)
                .order_by(Tenant.created_at.desc(), Tenant.id.desc())
                .offset(int(TENANTS * 0.9))
                .limit(50)
            )
        )

    cases = {
        "first page (created, newest first)": page(),
        "page at 90 % by keyset cursor": page(cursor=cursor),
        "first page sorted by name": page(sort="name", descending=False),
        "search: slug prefix 'home-4242'": page(q="home-4242"),
        "search: member email": page(q="user77777@bench.test"),
        "search: name start ('Home 9999')": page(q="Home 9999"),
        "search: part of a name ('9999', a scan of the slugs)": page(q="9999"),
        "search: broad prefix ('home-1')": page(q="home-1"),
        "contrast: bare OFFSET query at 90 % (no figures)": offset_page,
    }
    results = {name: timed(db, work) for name, work in cases.items()}
    for name, ms in results.items():
        print(f"{ms:8.1f} ms  {name}")
    first = results["first page (created, newest first)"]
    print(f"deep/first ratio (keyset): {results['page at 90 % by keyset cursor'] / first:.2f}")
    db.dispose()


if __name__ == "__main__":
    main()
