"""The only part of the library that imports FastAPI/Starlette: install, dependencies, routes."""

from tenantry.web.config import TenancyConfig
from tenantry.web.deps import (
    AdminContext,
    CurrentClaims,
    DbSession,
    MemberContext,
    OwnerContext,
    ViewerContext,
    get_tenancy,
    require_role,
    requires_feature,
)
from tenantry.web.offload import in_thread
from tenantry.web.platform import Operator, PlatformAdmin, require_platform_admin
from tenantry.web.tenancy import Tenancy

__all__ = [
    "AdminContext",
    "CurrentClaims",
    "DbSession",
    "MemberContext",
    "Operator",
    "OwnerContext",
    "PlatformAdmin",
    "Tenancy",
    "TenancyConfig",
    "ViewerContext",
    "get_tenancy",
    "in_thread",
    "require_platform_admin",
    "require_role",
    "requires_feature",
]
