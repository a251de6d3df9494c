"""The seam between the server and the apps it hosts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI

from tenantry.db import Database
from tenantry.web import Tenancy


class Plugin(Protocol):
    """An app hosted by the server: its migrations, its routes, its demo data."""

    name: str

    @property
    def migrations(self) -> Sequence[Path]:
        """Alembic version directories of the app's tables."""
        ...

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        """Add the app's routes, pages and static files."""
        ...

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        """Create demo data once (a second call creates nothing); return lines telling a
        person how to sign in, each time."""
        ...
