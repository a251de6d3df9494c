"""Run one tenant move and die with SIGKILL at a named step: ``python -m tests.support.move_crash``.

Arguments: control URL, placements TOML, tenant id, ``shared``/``dedicated``, the step to
die at (``never`` to finish), the batch size.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid


def main(argv: list[str]) -> None:
    url, toml, tenant, to, die_at, batch = argv
    from pathlib import Path

    import meterbook.models  # noqa: F401  (maps the tenant tables)
    import tests.notes_app
    import tests.support.models  # noqa: F401  (the test tables, as the parent maps them)
    from tenantry.db import Database
    from tenantry.placement import Placements, load_config
    from tenantry.placement.move import move_tenant
    from tenantry_server.app import default_plugins
    from tests.support.placement import prepare_test_tables

    def step(name: str) -> None:
        if name == die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    db = Database(url)
    placements = Placements(
        load_config(Path(toml)),
        db,
        version_dirs=[d for p in default_plugins() for d in p.migrations],
        prepare=prepare_test_tables,
    )
    move_tenant(placements, uuid.UUID(tenant), to=to, on_step=step, batch=int(batch))


if __name__ == "__main__":
    main(sys.argv[1:])
