"""The server as an app factory, so each worker process builds its own app from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry_server.app import create_app
from tenantry_server.settings import Settings

# What ``tenantry serve`` hands to uvicorn; also ``uvicorn --factory tenantry_server.asgi:app``.
FACTORY = "tenantry_server.asgi:app"


def app() -> FastAPI:
    """Build the server from ``DATABASE_URL`` and ``TENANTRY_*`` (one call per worker process)."""
    return create_app(Settings())
