"""The tenantry server: hosts the tenancy API, the web UI and app plugins such as meterbook."""

from tenantry_server.app import create_app
from tenantry_server.plugins import Plugin
from tenantry_server.settings import Settings

__all__ = ["Plugin", "Settings", "create_app"]
