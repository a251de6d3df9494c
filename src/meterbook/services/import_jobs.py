"""Large CSV imports as background jobs, with their progress kept in the tenant cache.

The import is still all-or-nothing (one transaction in the job); what the page
shows is the stage it reached: queued, checking, done with the row count, or
failed with the lines to fix. The status lives in the household's own cache
namespace, so another household cannot read it even with the id.

A job may be delivered twice (its acknowledgement lost in a Redis outage, its worker
killed after the commit): the import records its id with its rows
(:mod:`tenantry.jobs.once`), and a second run finds it and says "done" with the first
run's count instead of adding the rows again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from meterbook.plans import CSV_IMPORT
from meterbook.services import transfer
from tenantry.cache import TenantCache
from tenantry.context import TenantContext
from tenantry.errors import TenantryError
from tenantry.jobs import Jobs, once
from tenantry.plans import require_feature

JOB = "meterbook.csv_import"
# Files with more lines than this are imported in the background.
BACKGROUND_LINES = 2_000
STATUS_TTL = 24 * 3600
IMPORTERS: dict[str, Callable[[Session, TenantContext, str], int]] = {
    "readings": transfer.import_readings,
    "vouchers": transfer.import_vouchers,
}


def _key(import_id: str) -> str:
    return f"import:{import_id}"


def is_large(text: str) -> bool:
    return text.count("\n") > BACKGROUND_LINES


def register(jobs: Jobs, cache: TenantCache) -> None:
    """Register the import job; its status goes to ``cache`` under the job's tenant."""

    def failed(_ctx: TenantContext, kwargs: dict[str, Any], message: str) -> None:
        # Tried again while the database refused, then given up: the page must not say
        # "queued" for ever. The import wrote nothing (one transaction).
        _set(
            cache,
            str(kwargs["import_id"]),
            {
                "state": "failed",
                "kind": kwargs.get("kind"),
                "code": "import_not_run",
                "message": f"the import could not be run: {message}; nothing was imported, "
                "upload the file again",
            },
        )

    @jobs.job(JOB, on_failure=failed)
    def run_import(
        session: Session, ctx: TenantContext, *, kind: str, text: str, import_id: str
    ) -> None:
        earlier = once.done_before(session, ctx, f"{JOB}:{import_id}")
        if earlier is not None:  # delivered again: the rows are in, the status may be lost
            _set(cache, import_id, {"state": "done", "kind": kind, "rows": earlier["rows"]})
            return
        _set(cache, import_id, {"state": "checking", "kind": kind})
        try:
            # The plan is read again: one changed since the upload (a downgrade) decides.
            require_feature(session, ctx.tenant_id, CSV_IMPORT)
            with session.begin_nested():  # a refused file (bad lines, a quota) writes nothing
                rows = IMPORTERS[kind](session, ctx, text)
                once.record_done(session, ctx, f"{JOB}:{import_id}", rows=rows)
        except TenantryError as exc:
            if exc.status >= 500:
                raise
            failed = {"state": "failed", "kind": kind, "code": exc.code, "message": exc.message}
            _set(cache, import_id, {**failed, "details": exc.details})
            return
        _set(cache, import_id, {"state": "done", "kind": kind, "rows": rows})


async def start(jobs: Jobs, cache: TenantCache, ctx: TenantContext, kind: str, text: str) -> str:
    """Queue an import of ``text`` into ``kind``; returns the id its status is read by."""
    import_id = uuid.uuid4().hex
    _set(cache, import_id, {"state": "queued", "kind": kind})
    await jobs.enqueue(JOB, ctx, kind=kind, text=text, import_id=import_id)
    return import_id


def status(cache: TenantCache, import_id: str) -> dict[str, Any] | None:
    """The import's status in the current household, or ``None`` (unknown here)."""
    found: dict[str, Any] | None = cache.peek(_key(import_id))
    return found


def _set(cache: TenantCache, import_id: str, value: dict[str, Any]) -> None:
    cache.put(_key(import_id), value, STATUS_TTL)
