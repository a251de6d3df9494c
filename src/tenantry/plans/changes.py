"""Plan changes and per-tenant overrides: checked against current use, always audited.

A downgrade that the tenant's current use exceeds is refused, with what must
go first (``PlanChangeRefused.details["over"]``). Nothing is ever made
read-only or deleted behind the tenant's back.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tenantry import audit
from tenantry.errors import TenantNotFound, ValidationFailed
from tenantry.models import PlanOverride, Tenant
from tenantry.plans.catalogue import (
    DEFAULT_CATALOGUE,
    EXPORT_BYTES_PER_MONTH,
    FEATURE_PREFIX,
    MEMBERS,
    NO_REQUESTS,
    REQUESTS_PER_MINUTE,
    REQUESTS_PER_MONTH,
    ROWS_PREFIX,
    STORAGE_BYTES,
    Catalogue,
    Plan,
)
from tenantry.plans.entitlements import catalogue_of, entitlements_for, load_entitlements
from tenantry.plans.errors import PlanChangeRefused
from tenantry.plans.quotas import count_members, count_rows, quota_models, quota_of


def _catalogue(session: Session, catalogue: Catalogue | None) -> Catalogue:
    return catalogue or catalogue_of(session) or DEFAULT_CATALOGUE


def _over(
    session: Session,
    tenant_id: uuid.UUID,
    limits: dict[str, int | None],
    tables: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The limits that current use exceeds, with how much must go (rows in ``tables``
    only, when given)."""
    over = []
    for name, allowed in sorted(limits.items()):
        if allowed is None:
            continue
        if name == MEMBERS:
            used = count_members(session, tenant_id)
        elif name.startswith(ROWS_PREFIX) and quota_models(name):
            used = count_rows(session, name, tables)
        else:
            continue  # metered per period or host-named: not something to remove
        if used > allowed:
            over.append(
                {"limit": name, "allowed": allowed, "current": used, "remove": used - allowed}
            )
    return over


def _refuse_over(
    session: Session,
    tenant_id: uuid.UUID,
    target: Plan,
    catalogue: Catalogue,
    overrides: Mapping[str, int | None],
) -> None:
    after = entitlements_for(catalogue, target.name, overrides.items())
    over = _over(session, tenant_id, dict(after.limits))
    if over:
        raise PlanChangeRefused(plan=target.display_name, over=over)


def over_limits(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    plan: Plan,
    catalogue: Catalogue,
    tables: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """What the tenant's current use exceeds of ``plan`` without overrides (an imported
    tenant's): each limit with how much must go. Rows are counted in the current tenant
    scope, in ``tables`` only when given (an import: the tables its document holds)."""
    limits = dict(entitlements_for(catalogue, plan.name, ()).limits)
    return _over(session, tenant_id, limits, tables)


def check_fits(
    session: Session, *, tenant_id: uuid.UUID, plan: str, catalogue: Catalogue | None = None
) -> None:
    """Refuse ``plan`` before anything is bought or changed if current use exceeds it.

    For a plan change asked for elsewhere (a Stripe Checkout): the same rule and the
    same answer as :func:`change_plan`, before the customer pays. A name the catalogue
    lacks passes (the caller refuses it in its own terms).

    Raises:
        PlanChangeRefused: the tenant uses more than ``plan`` allows; what must go.
    """
    catalogue = _catalogue(session, catalogue)
    target = catalogue.find(plan)
    if target is None:
        return
    current = load_entitlements(session, tenant_id, catalogue=catalogue)
    if current.plan.name != target.name:
        _refuse_over(session, tenant_id, target, catalogue, current.overrides)


def change_plan(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    plan: str,
    actor_id: int | None,
    catalogue: Catalogue | None = None,
    by_platform_admin: bool = False,
) -> Plan:
    """Move the tenant (the session's current tenant scope) to ``plan``.

    Raises:
        ValidationFailed: no such plan.
        PlanChangeRefused: the tenant uses more than the plan allows (members,
            row quotas); ``details["over"]`` lists what must be removed first.
    """
    catalogue = _catalogue(session, catalogue)
    target = catalogue.find(plan)
    if target is None:
        raise ValidationFailed(
            f"no such plan; choose one of: {', '.join(catalogue.names)}",
            details={"field": "plan"},
        )
    current = load_entitlements(session, tenant_id, catalogue=catalogue, lock=True)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound("tenant not found")
    if tenant.plan == target.name:
        return target
    _refuse_over(session, tenant_id, target, catalogue, current.overrides)
    old = tenant.plan
    tenant.plan = target.name
    now = datetime.now(UTC)
    tenant.trial_ends_at = now + timedelta(days=target.trial_days) if target.trial_days else None
    tenant.updated_at = now
    audit.record(
        session,
        "platform.plan_changed" if by_platform_admin else "plan.changed",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"plan:{target.name}",
        old=old,
        new=target.name,
        by_platform_admin=by_platform_admin,
    )
    return target


# The core's own limits: a name one letter off (``member``) limits nothing.
CORE_LIMITS = (
    MEMBERS,
    REQUESTS_PER_MONTH,
    REQUESTS_PER_MINUTE,
    EXPORT_BYTES_PER_MONTH,
    STORAGE_BYTES,
)


def _refuse_near_miss(name: str, catalogue: Catalogue | None) -> None:
    """Refuse a limit or feature name that is not one the core or the plans know but is a
    near miss of one (``member``, ``feature:csv_imprt``): stored, it would enforce nothing.
    A name of the host's own, far from every known one, is taken as it is."""
    plans = (catalogue or DEFAULT_CATALOGUE).plans
    known = {*CORE_LIMITS, *(k for p in plans for k in p.limits)}
    known |= {FEATURE_PREFIX + f for p in plans for f in p.features}
    if name in known or name.startswith(ROWS_PREFIX):
        return
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    if close:
        raise ValidationFailed(
            f"{name} is not a limit or feature the plans know: did you mean {close[0]}?",
            details={"field": "name", "suggestion": close[0]},
        )


def set_override(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    name: str,
    value: int | None,
    actor_id: int | None,
    note: str = "",
) -> PlanOverride:
    """Grant one tenant a limit (``None`` = unlimited) or a feature (``feature:x`` = 1/0)."""
    if not name or len(name) > 96:
        raise ValidationFailed("name a limit or feature:<flag>", details={"field": "name"})
    if name.startswith(ROWS_PREFIX) and not quota_models(name):
        # Rows are counted by the models that declare the quota: another name limits nothing.
        counted = sorted({quota_of(cls) or "" for cls in quota_models()})
        raise ValidationFailed(
            f"no table counts rows against {name}; choose one of: {', '.join(counted) or 'none'}",
            details={"field": "name"},
        )
    _refuse_near_miss(name, catalogue_of(session))
    if name.startswith(FEATURE_PREFIX) and value not in (0, 1):
        raise ValidationFailed(
            "a feature override is 1 (grant) or 0 (take away)", details={"field": "value"}
        )
    if value is not None and value < 0:
        raise ValidationFailed("a limit cannot be negative", details={"field": "value"})
    if name == REQUESTS_PER_MINUTE and value == 0:
        raise ValidationFailed(NO_REQUESTS, details={"field": "value"})
    row = session.get(PlanOverride, (tenant_id, name))
    old = None if row is None else row.value
    if row is None:
        row = PlanOverride(
            tenant_id=tenant_id, name=name, value=value, note=note, created_by=actor_id
        )
        session.add(row)
    else:
        row.value, row.note, row.created_by = value, note, actor_id
    audit.record(
        session,
        "plan.override_set",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"override:{name}",
        old=old,
        new=value,
        note=note,
    )
    session.flush()
    return row


def remove_override(
    session: Session, *, tenant_id: uuid.UUID, name: str, actor_id: int | None
) -> None:
    row = session.get(PlanOverride, (tenant_id, name))
    if row is None:
        return
    session.delete(row)
    audit.record(
        session,
        "plan.override_removed",
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=f"override:{name}",
        old=row.value,
    )
    session.flush()
