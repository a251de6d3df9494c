"""The test server as separate processes: ``uvicorn --factory tests.support.serve:app``.

Settings come from the environment (as in production), plus the test notes app
and the fast password hasher. ``python -m tests.support.serve worker`` runs the
job worker of the same application.
"""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI

from tenantry.jobs import work
from tenantry.security.passwords import Passwords, fast_test_hasher
from tenantry_server.app import create_app, default_plugins
from tenantry_server.settings import Settings
from tests.notes_app import NotesPlugin


def app() -> FastAPI:
    return create_app(
        Settings(), [*default_plugins(), NotesPlugin()], passwords=Passwords(fast_test_hasher())
    )


if __name__ == "__main__" and sys.argv[1:] == ["worker"]:
    asyncio.run(work(app().state.tenancy.jobs))
