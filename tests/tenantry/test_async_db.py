"""Async engines keep tenant data out of error texts, as the sync ones do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tenantry.db import Database


def test_a_failing_async_statement_does_not_quote_its_parameters(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")

    async def fail() -> None:
        async with db.aio.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT no_such_function(?)", ("alice's secret",))

    with pytest.raises(OperationalError) as raised:
        asyncio.run(fail())
    assert "no_such_function" in str(raised.value)
    assert "alice's secret" not in str(raised.value)
    db.dispose()
