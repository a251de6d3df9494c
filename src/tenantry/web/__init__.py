"""The only part of the library that imports FastAPI/Starlette: install, dependencies, routes."""

from typing import TYPE_CHECKING

from tenantry.web.config import TenancyConfig
from tenantry.web.deps import (
    AdminContext,
    CurrentClaims,
    DbSession,
    MemberContext,
    OwnerContext,
    QuickReads,
    QuickWrites,
    Reads,
    SuspendedOwnerContext,
    ViewerContext,
    Writes,
    get_tenancy,
    require_role,
    requires_feature,
)
from tenantry.web.errors import Problem, problem_of
from tenantry.web.offload import in_thread
from tenantry.web.path_prefix import path_tenant
from tenantry.web.platform import PlatformAdmin, require_platform_admin
from tenantry.web.resolution import TenantClaim, resolve_membership
from tenantry.web.routes.privacy import user_export_response
from tenantry.web.schemas import Input, IsoDateTime, OneLine, TokenPair
from tenantry.web.shared_routes import add_routes
from tenantry.web.streaming import export_download, tenant_download
from tenantry.web.tenancy import Tenancy

if TYPE_CHECKING:
    from tenantry.web.async_session import AsyncDbSession


def __getattr__(name: str) -> object:
    """``AsyncDbSession`` is imported on first use: it needs the ``async`` extra."""
    if name == "AsyncDbSession":
        from tenantry.web.async_session import AsyncDbSession

        return AsyncDbSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazily imported ``AsyncDbSession`` among them (editors, ``dir``)."""
    return sorted({*globals(), *__all__})


__all__ = [
    "AdminContext",
    "AsyncDbSession",
    "CurrentClaims",
    "DbSession",
    "Input",
    "IsoDateTime",
    "MemberContext",
    "OneLine",
    "OwnerContext",
    "PlatformAdmin",
    "Problem",
    "QuickReads",
    "QuickWrites",
    "Reads",
    "SuspendedOwnerContext",
    "Tenancy",
    "TenancyConfig",
    "TenantClaim",
    "TokenPair",
    "ViewerContext",
    "Writes",
    "add_routes",
    "export_download",
    "get_tenancy",
    "in_thread",
    "path_tenant",
    "problem_of",
    "require_platform_admin",
    "require_role",
    "requires_feature",
    "resolve_membership",
    "tenant_download",
    "user_export_response",
]
