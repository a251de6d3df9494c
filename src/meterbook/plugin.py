"""meterbook as a tenantry server plugin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from tenantry.db import Database
from tenantry.web import Tenancy


class MeterbookPlugin:
    name = "meterbook"

    @property
    def migrations(self) -> Sequence[Path]:
        return [Path(__file__).parent / "migrations" / "versions"]

    def install(self, app: FastAPI, tenancy: Tenancy) -> None:
        from meterbook import models  # noqa: F401 - registers the tables

    def seed_demo(self, db: Database, tenancy: Tenancy) -> list[str]:
        return []
