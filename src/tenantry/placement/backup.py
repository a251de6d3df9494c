"""Back a dedicated tenant up: its SQLite file, copied consistently while it serves, or a pg_dump.

The copy is tenantize's (:func:`tenantry.migrate.backup.backup`): SQLite's
online backup API, consistent as of one moment even while the server writes
(WAL), into a ``.partial`` file renamed when complete; ``pg_dump`` in custom
format for PostgreSQL, as the server's ``admin_url`` role (FORCE RLS would stop
the owner). A shared tenant has no database of its own: its
backup is its export document, which ``tenants import`` restores.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from tenantry.db import make_engine
from tenantry.errors import TenantryError
from tenantry.migrate.backup import backup
from tenantry.placement.location import Location
from tenantry.placement.router import Placements


class BackupFailed(TenantryError):
    code = "backup_failed"
    status = 500


def backup_dedicated(placements: Placements, location: Location, dest: Path) -> str:
    """Copy the dedicated database at ``location`` to ``dest``; returns what was written.

    Raises:
        BackupFailed: the location is shared.
        TenantryError: the file is missing, or pg_dump failed (the message says which).
    """
    if location.is_shared or location.server is None or location.database is None:
        raise BackupFailed("a shared tenant has no database of its own: export it instead")
    server = placements.config.server(location.server)
    url = server.database_url(location.database, role="migration")
    if not server.is_sqlite and server.admin_url:
        # pg_dump reads past RLS: FORCE RLS stops the owner, the admin role is not stopped.
        url = (
            make_url(server.admin_url)
            .set(database=location.database)
            .render_as_string(hide_password=False)
        )
    engine = make_engine(url)
    try:
        return backup(engine, dest)
    finally:
        engine.dispose()


def tenant_location(placements: Placements, tenant_id: uuid.UUID) -> Location:
    with placements.control.read_sessions() as session:
        return placements.lookup(session, tenant_id)[0]
