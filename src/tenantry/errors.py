"""Domain exceptions of the tenancy core; the web layer maps each to a status and a code."""

from __future__ import annotations

from typing import Any


class TenantryError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NoTenantContext(TenantryError):
    """Tenant data was touched with no tenant context: fail closed."""

    code = "no_tenant_context"
    status = 500


class CrossTenantWrite(TenantryError):
    """A write would put or move a row into another tenant."""

    code = "cross_tenant_write"
    status = 500


class NotFound(TenantryError):
    """The object does not exist, or belongs to another tenant: the two are indistinguishable."""

    code = "not_found"
    status = 404


class TenantNotFound(NotFound):
    """No such tenant, or the caller is not a member of it."""

    code = "tenant_not_found"


class TenantDeleted(TenantNotFound):
    """The tenant was deleted; only its members (who may know it existed) are told so."""

    code = "tenant_deleted"


class AuthenticationFailed(TenantryError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(TenantryError):
    code = "forbidden"
    status = 403


class TenantSuspended(PermissionDenied):
    """The tenant is suspended (by an operator, or by billing for non-payment)."""

    code = "tenant_suspended"


class NoTenantSelected(PermissionDenied):
    """Signed in, but the person belongs to no tenant: they can create or join one."""

    code = "no_tenant"


class Conflict(TenantryError):
    code = "conflict"
    status = 409


class TooManyTenants(Conflict):
    """An account owns as many tenants as it may (``TenancyConfig.max_owned_tenants``):
    each new tenant brings its own plan's quotas, so creating more must be bounded."""

    code = "too_many_tenants"


class ServiceUnavailable(TenantryError):
    """A service the answer depends on (the cache, a queue) cannot be reached: try again."""

    code = "service_unavailable"
    status = 503


class PaymentDue(Conflict):
    """Billing suspended the tenant for non-payment: only its payment lifts that, not an
    operator's reactivation (which lifts the operator's own suspension)."""

    code = "payment_due"


class InvalidInvite(TenantryError):
    """One error for invalid, expired, revoked and used-up codes: no oracle."""

    code = "invalid_invite"
    status = 400

    def __init__(self) -> None:
        super().__init__("This invite code is not valid.")


class RateLimited(TenantryError):
    """Too many requests; ``headers`` carry ``Retry-After`` and the ``RateLimit-*`` fields."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int = 60, limit: int | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after), "RateLimit-Reset": str(retry_after)}
        if limit is not None:
            self.headers["RateLimit-Limit"] = str(limit)
            self.headers["RateLimit-Remaining"] = "0"


class ValidationFailed(TenantryError):
    code = "validation_error"
    status = 422


class PayloadTooLarge(TenantryError):
    """A request body over the configured limit (``details["limit_bytes"]``)."""

    code = "payload_too_large"
    status = 413
