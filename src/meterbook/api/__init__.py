"""meterbook's JSON API: readings, vouchers, CSV import/export and the dashboard."""

from meterbook.api import dashboard, imports, readings, vouchers

ROUTERS = (readings.router, vouchers.router, dashboard.router, imports.router)

__all__ = ["ROUTERS"]
