"""The tables of the tenancy core, and the base an app's tenant tables derive from."""

from tenantry.models.activity import TenantActivity
from tenantry.models.audit import AuditEvent
from tenantry.models.base import (
    Base,
    TenantScoped,
    UuidText,
    is_tenant_scoped,
    tenant_foreign_key,
    utcnow,
)
from tenantry.models.billing import BillingAccount, BillingEvent
from tenantry.models.invite import Invite
from tenantry.models.membership import Membership
from tenantry.models.password_reset import PasswordReset
from tenantry.models.placement import (
    MoveStatus,
    PlacementKind,
    PlacementMove,
    PlacementState,
    TenantPlacement,
)
from tenantry.models.plan import PlanOverride, UsageCounter
from tenantry.models.refresh_token import RefreshToken
from tenantry.models.tenant import Tenant, TenantKind, TenantStatus
from tenantry.models.user import User, normalize_email

__all__ = [
    "AuditEvent",
    "Base",
    "BillingAccount",
    "BillingEvent",
    "Invite",
    "Membership",
    "MoveStatus",
    "PasswordReset",
    "PlacementKind",
    "PlacementMove",
    "PlacementState",
    "PlanOverride",
    "RefreshToken",
    "Tenant",
    "TenantActivity",
    "TenantKind",
    "TenantPlacement",
    "TenantScoped",
    "TenantStatus",
    "UsageCounter",
    "User",
    "UuidText",
    "is_tenant_scoped",
    "normalize_email",
    "tenant_foreign_key",
    "utcnow",
]
