"""Rows written while a conversion was under way: a run that --apply cannot finish.

The conversion copies and checks what the snapshot saw; rows the app (or anyone) wrote
after it would be lost by a swap or fail verification, on every re-run alike. The dry
run's status and the failing step say so, and name the way out.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from tenantry.migrate import state
from tenantry.migrate.schema import has_table

WAY_OUT = (
    "Stop whatever writes to the database, then --rollback --yes restores the backup (rows "
    "written since the conversion began are lost: note them first) and a new --apply "
    "starts over"
)


def counts_changed(conn: Connection) -> list[str]:
    """``"<table>: N rows when the conversion began, M now"`` for each table whose row
    count is not the snapshot's (tables already rebuilt as the target app's are skipped:
    they are checked as they are built)."""
    q = conn.dialect.identifier_preparer.quote
    changed = []
    for name, (count, *_rest) in sorted(state.load_snapshot(conn).items()):
        if state.done(conn, f"target:{name}") or not has_table(conn, name):
            continue
        now = int(conn.exec_driver_sql(f"SELECT count(*) FROM {q(name)}").scalar() or 0)
        if now != count:
            changed.append(f"{name}: {count} rows when the conversion began, {now} now")
    return changed


def stuck_reason(conn: Connection) -> str | None:
    """Why the interrupted run cannot be finished by --apply, or ``None`` if it can be."""
    recorded = state.stuck(conn)
    if recorded is not None:
        return recorded
    return rows_written(conn)


def rows_written(conn: Connection) -> str | None:
    """Why rows written since the snapshot make the run unfinishable, or ``None``: a
    resumed --apply checks it before any further change, as the dry run does."""
    changed = counts_changed(conn)
    if not changed:
        return None
    return (
        f"rows were written during the conversion ({'; '.join(changed)}), which it cannot "
        f"take in. {WAY_OUT}"
    )


def record_stuck(engine: Engine, reason: str) -> None:
    """Keep why this run cannot be finished, for the dry run's status line."""
    with engine.begin() as conn:
        state.put(conn, state.STUCK, "stuck", {"reason": reason})
