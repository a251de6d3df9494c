"""The operator console: tenants, their figures and actions, and database health.

Pages for platform admins at ``/console``; everyone else gets a missing route's
404. They show the same data as ``/api/admin`` (the same library functions).
"""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.web import add_routes
from tenantry_server.console import pages


def install(app: FastAPI) -> None:
    add_routes(app, pages.router)
