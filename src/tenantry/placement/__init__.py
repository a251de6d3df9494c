"""Where a tenant lives (shared tables or a database of its own), routing to it, and moves."""

from tenantry.placement.config import PlacementConfig, PlacementConfigError, Server, load_config
from tenantry.placement.engines import EngineCache
from tenantry.placement.location import (
    SHARED,
    Location,
    PlacementMismatch,
    TenantReadOnly,
    database_name,
)
from tenantry.placement.router import Placements, routed_location

__all__ = [
    "SHARED",
    "EngineCache",
    "Location",
    "PlacementConfig",
    "PlacementConfigError",
    "PlacementMismatch",
    "Placements",
    "Server",
    "TenantReadOnly",
    "database_name",
    "load_config",
    "routed_location",
]
