"""meterbook's server-rendered web UI."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.web import Tenancy


def install_pages(app: FastAPI, tenancy: Tenancy, *, secure_cookies: bool) -> None:
    pass
