"""What one tenant may use now: its plan's limits and features, with its overrides applied."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tenantry.errors import TenantNotFound
from tenantry.ids import in_chunks
from tenantry.models import PlanOverride, Tenant
from tenantry.plans.catalogue import DEFAULT_CATALOGUE, FEATURE_PREFIX, Catalogue, Plan
from tenantry.plans.errors import FeatureNotInPlan

CATALOGUE_KEY = "tenantry.catalogue"


@dataclass(frozen=True, slots=True)
class Entitlements:
    """A tenant's effective plan. ``limit()`` is ``None`` for unlimited."""

    plan: Plan
    limits: Mapping[str, int | None]
    features: frozenset[str]
    overrides: Mapping[str, int | None] = field(default_factory=dict)
    trial_ends_at: datetime | None = None

    def limit(self, name: str) -> int | None:
        return self.limits.get(name)

    def has(self, feature: str) -> bool:
        return feature in self.features


def entitlements_for(
    catalogue: Catalogue,
    plan_name: str,
    overrides: Iterable[tuple[str, int | None]] = (),
    trial_ends_at: datetime | None = None,
) -> Entitlements:
    """Apply ``overrides`` (limit names, or ``feature:<flag>`` = 1/0) to the plan's allowances."""
    plan = catalogue.get(plan_name)
    limits = dict(plan.limits)
    features = set(plan.features)
    given: dict[str, int | None] = {}
    for name, value in overrides:
        given[name] = value
        if name.startswith(FEATURE_PREFIX):
            flag = name.removeprefix(FEATURE_PREFIX)
            if value:
                features.add(flag)
            else:
                features.discard(flag)
        else:
            limits[name] = value
    return Entitlements(plan, limits, frozenset(features), given, trial_ends_at)


def catalogue_of(session: Session) -> Catalogue | None:
    """The catalogue installed on the session's factory (``Tenancy`` does it), if any."""
    found = session.info.get(CATALOGUE_KEY)
    return found if isinstance(found, Catalogue) else None


def load_entitlements(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    catalogue: Catalogue | None = None,
    lock: bool = False,
) -> Entitlements:
    """Read the tenant's plan and overrides.

    With ``lock`` the tenant row is locked for the rest of the transaction
    (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every write transaction
    already holds the database's write lock from ``BEGIN IMMEDIATE``), so a
    count taken afterwards cannot be raced by another transaction of the tenant.
    """
    found = _load(session, [tenant_id], catalogue, lock=lock).get(tenant_id)
    if found is None:
        raise TenantNotFound("tenant not found")
    return found


def load_entitlements_many(
    session: Session, tenant_ids: Iterable[uuid.UUID], *, catalogue: Catalogue | None = None
) -> dict[uuid.UUID, Entitlements]:
    """:func:`load_entitlements` of many tenants in one query per chunk of ids; a tenant
    that does not exist is left out. For batch work over many tenants (usage flushes)."""
    found: dict[uuid.UUID, Entitlements] = {}
    for chunk in in_chunks(tenant_ids):
        found.update(_load(session, chunk, catalogue))
    return found


# Built once: constructing a select costs more than running it (a quota check per write).
_ENTITLEMENT_ROWS = select(
    Tenant.id, Tenant.plan, Tenant.trial_ends_at, PlanOverride.name, PlanOverride.value
).outerjoin(PlanOverride, PlanOverride.tenant_id == Tenant.id)
_ONE = _ENTITLEMENT_ROWS.where(Tenant.id == bindparam("tenant_id"))
_ONE_LOCKED = _ONE.with_for_update(of=Tenant)  # only the tenant row, not its overrides
_MANY = _ENTITLEMENT_ROWS.where(Tenant.id.in_(bindparam("tenant_ids", expanding=True)))


def _load(
    session: Session, ids: list[uuid.UUID], catalogue: Catalogue | None, *, lock: bool = False
) -> dict[uuid.UUID, Entitlements]:
    """One query: each tenant's row joined to its overrides (a row per override, or one
    with none); with ``lock``, a single tenant's row is locked."""
    catalogue = catalogue or catalogue_of(session) or DEFAULT_CATALOGUE
    params: dict[str, Any]
    if len(ids) == 1:
        stmt, params = (_ONE_LOCKED if lock else _ONE), {"tenant_id": ids[0]}
    else:  # batch reads (usage flushes) never lock
        stmt, params = _MANY, {"tenant_ids": ids}
    tenants: dict[uuid.UUID, tuple[str, datetime | None]] = {}
    given: dict[uuid.UUID, list[tuple[str, int | None]]] = {}
    for tenant_id, plan, trial_ends_at, name, value in session.execute(stmt, params):
        tenants[tenant_id] = (plan, trial_ends_at)
        if name is not None:
            given.setdefault(tenant_id, []).append((name, value))
    return {
        tenant_id: entitlements_for(catalogue, plan, given.get(tenant_id, ()), trial_ends_at)
        for tenant_id, (plan, trial_ends_at) in tenants.items()
    }


def has_feature(session: Session, tenant_id: uuid.UUID, feature: str) -> bool:
    """Whether the tenant's plan (with overrides) includes ``feature``: for service code."""
    return load_entitlements(session, tenant_id).has(feature)


def require_feature(session: Session, tenant_id: uuid.UUID, feature: str) -> Entitlements:
    """Return the entitlements, or raise :class:`FeatureNotInPlan` naming the plan that has it."""
    ents = load_entitlements(session, tenant_id)
    if not ents.has(feature):
        catalogue = catalogue_of(session) or DEFAULT_CATALOGUE
        offer = catalogue.with_feature(feature)
        raise FeatureNotInPlan(
            feature=feature,
            plan=ents.plan.display_name,
            available_in=offer.display_name if offer else None,
        )
    return ents
