"""The tenantry server: hosts the tenancy API, the web UI and app plugins such as meterbook."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenantry_server.app import create_app
    from tenantry_server.plugins import Plugin
    from tenantry_server.settings import Settings

__all__ = ["Plugin", "Settings", "create_app"]

# Imported on first use: the `tenantry` command lives here, and without the
# [server] extra its library commands (migrate, migrations, doctor) must still run.
_HOMES = {"create_app": "app", "Plugin": "plugins", "Settings": "settings"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"tenantry_server.{_HOMES[name]}"), name)
    raise AttributeError(name)
