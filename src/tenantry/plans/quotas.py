"""Enforcing limits where rows are written: seats on member add, row quotas in an ORM hook.

A model opts into a row quota by naming its limit::

    class Reading(TenantScoped, Base):
        __quota__ = rows_limit("readings")

Every flush that inserts such rows (``session.add`` or an ORM bulk insert) locks
the tenant row, counts the tenant's rows and refuses the whole flush with
:class:`QuotaExceeded` if the new rows would pass the limit. The count runs
after the lock, in the same transaction as the insert: PostgreSQL serialises
the tenant's writers on ``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
serialises every writer. No route has to remember a check. A request whose plan
has none of the limits, and whose tenant overrides nothing else, neither locks nor
counts (:func:`_no_limit_applies`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from tenantry import audit
from tenantry.hooks import SessionFactory, listen, set_info
from tenantry.metrics import count_quota_refusal
from tenantry.models import Base, Membership
from tenantry.plans.catalogue import MEMBERS, ROWS_PREFIX, Catalogue, CatalogueError
from tenantry.plans.entitlements import CATALOGUE_KEY, Entitlements, load_entitlements
from tenantry.plans.errors import QuotaExceeded
from tenantry.scoping import bound_context, is_unscoped, session_tenant

QUOTA_ATTR = "__quota__"
SOFT_LIMITS = ((100, "plan.limit_reached"), (80, "plan.limit_warning"))

# Flipped only by tenantry.testing.quotas_switched_off(), to prove the route walk can fail.
_enabled = True


def quota_of(cls: type) -> str | None:
    """The limit a model's rows count against (its ``__quota__``), or ``None``."""
    value = getattr(cls, QUOTA_ATTR, None)
    return value if isinstance(value, str) else None


def quota_models(limit: str | None = None) -> list[type]:
    """Every mapped class that declares a quota (on ``limit``, when given)."""
    found = []
    for mapper in Base.registry.mappers:
        key = quota_of(mapper.class_)
        if key is not None and (limit is None or key == limit):
            found.append(mapper.class_)
    return found


def count_rows(session: Session, limit: str, tables: Collection[str] | None = None) -> int:
    """The current tenant's rows counted against ``limit`` (scoped like any query), in
    ``tables`` only when given (the others are known to hold none, or not to exist)."""
    return sum(
        session.scalar(select(func.count()).select_from(cls)) or 0
        for cls in quota_models(limit)
        if tables is None or inspect(cls).local_table.name in tables
    )


def count_members(session: Session, tenant_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id)
        )
        or 0
    )


def soft_alert(
    session: Session, *, tenant_id: uuid.UUID, limit: str, allowed: int, before: int, after: int
) -> None:
    """Audit the highest soft limit (80 %, 100 %) that ``before → after`` crosses, if any."""
    for percent, action in SOFT_LIMITS:
        threshold = allowed * percent / 100
        if before < threshold <= after:
            audit.record(
                session,
                action,
                tenant_id=tenant_id,
                actor_id=None,
                target=f"limit:{limit}",
                allowed=allowed,
                used=after,
                percent=percent,
            )
            return


def check_allowance(
    session: Session,
    catalogue: Catalogue,
    ents: Entitlements,
    *,
    tenant_id: uuid.UUID,
    limit: str,
    current: int,
    requested: int,
    noun: str | None = None,
    alert: bool = True,
) -> None:
    """Refuse ``requested`` more of ``limit`` past the allowance; audit soft limits crossed
    (unless ``alert`` is off: a look ahead, before the change that will cross them)."""
    allowed = ents.limit(limit)
    if allowed is None or requested <= 0:
        return
    if current + requested > allowed:
        count_quota_refusal(limit)
        # A limit set for this tenant holds on every plan: no plan change lifts it.
        lift = None if limit in ents.overrides else catalogue.lifting(limit, current + requested)
        raise QuotaExceeded(
            limit=limit,
            allowed=allowed,
            current=current,
            requested=requested,
            plan=ents.plan.display_name,
            lifted_by=lift.display_name if lift and lift.name != ents.plan.name else None,
            noun=noun,
            overridden=limit in ents.overrides,
        )
    if alert:
        soft_alert(
            session,
            tenant_id=tenant_id,
            limit=limit,
            allowed=allowed,
            before=current,
            after=current + requested,
        )


def _catalogue(session: Session) -> Catalogue | None:
    found = session.info.get(CATALOGUE_KEY)
    return found if _enabled and isinstance(found, Catalogue) else None


def enforce_seat(
    session: Session, tenant_id: uuid.UUID, *, adding: int = 1, alert: bool = True
) -> None:
    """Refuse a new member past the plan's ``members`` limit (call before adding it).

    The tenant row is locked first, so of N simultaneous joins for the last seat
    exactly one passes. Without an installed catalogue (maintenance sessions)
    nothing is enforced. ``alert=False``: a check ahead of the join, which alerts.
    """
    catalogue = _catalogue(session)
    if catalogue is None:
        return
    ents = load_entitlements(session, tenant_id, catalogue=catalogue, lock=True)
    if ents.limit(MEMBERS) is None:
        return
    check_allowance(
        session,
        catalogue,
        ents,
        tenant_id=tenant_id,
        limit=MEMBERS,
        current=count_members(session, tenant_id),
        requested=adding,
        noun="members",
        alert=alert,
    )


def _no_limit_applies(
    session: Session, catalogue: Catalogue, tenant_id: uuid.UUID, limits: Iterable[str]
) -> bool:
    """Whether the request's context shows, with no read, that none of ``limits`` applies.

    The membership check read the tenant's plan and found no override besides the
    per-minute budget (``plan_as_is``): a plan without these limits leaves nothing to
    count, lock or refuse. As with a role, a plan changed since counts from the next
    request. Any other context (a job's, a script's) reads the tenant row.
    """
    ctx = bound_context(session)
    if ctx is None or ctx.tenant_id != tenant_id or not ctx.plan_as_is or ctx.plan is None:
        return False
    plan = catalogue.get(ctx.plan)
    return all(plan.limit(limit) is None for limit in limits)


def _enforce_rows(session: Session, tenant_id: uuid.UUID, new: Counter[str]) -> None:
    catalogue = _catalogue(session)
    if catalogue is None or _no_limit_applies(session, catalogue, tenant_id, new):
        return
    ents = load_entitlements(session, tenant_id, catalogue=catalogue, lock=True)
    for limit, requested in sorted(new.items()):
        if ents.limit(limit) is None:
            continue
        check_allowance(
            session,
            catalogue,
            ents,
            tenant_id=tenant_id,
            limit=limit,
            current=count_rows(session, limit),
            requested=requested,
            noun=limit.partition(".")[2] or limit,
        )


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    if not _enabled or is_unscoped(session) or CATALOGUE_KEY not in session.info:
        return
    new: Counter[str] = Counter()
    for obj in session.new:
        limit = quota_of(type(obj))
        if limit is not None:
            new[limit] += 1
    if not new:
        return
    tenant_id = session_tenant(session)
    if tenant_id is not None:  # scoping has refused a write with no context already
        _enforce_rows(session, tenant_id, new)


def _on_execute(state: ORMExecuteState) -> None:
    """ORM bulk inserts (``session.execute(insert(Model), rows)``) count like ``add``."""
    if not (_enabled and state.is_insert) or state.bind_mapper is None:
        return
    limit = quota_of(state.bind_mapper.class_)
    session = state.session
    if limit is None or is_unscoped(session) or CATALOGUE_KEY not in session.info:
        return
    rows = inserted_rows(state.statement, state.parameters)
    tenant_id = session_tenant(session)
    if tenant_id is not None:
        _enforce_rows(session, tenant_id, Counter({limit: rows}))


def inserted_rows(statement: Any, params: Any) -> int:
    """How many rows an ``insert`` adds: one per parameter set, else one per row of its
    ``values()`` (a list of rows there was counted as one, passing the limit)."""
    if isinstance(params, list):
        return len(params)
    multi = getattr(statement, "_multi_values", None)
    return sum(len(batch) for batch in multi) if multi else 1


def check_row_limits(catalogue: Catalogue) -> None:
    """Refuse a plan's ``rows.<table>`` limit that no model counts (a misspelt name would
    otherwise be a quota that limits nothing). Call it once every model is imported.

    Raises:
        CatalogueError: naming the plan, the limit and the limits models do count.
    """
    counted = sorted({quota_of(cls) or "" for cls in quota_models()})
    for plan in catalogue.plans:
        for name in plan.limits:
            if name.startswith(ROWS_PREFIX) and name not in counted:
                raise CatalogueError(
                    f"plan {plan.name!r}: limits.{name}: no model counts rows against it "
                    f"(counted: {', '.join(counted) or 'none'}; a model declares its own with "
                    f"__quota__ = rows_limit('<table>'))"
                )


def install_quotas(factory: SessionFactory, catalogue: Catalogue) -> None:
    """Make every session of ``factory`` enforce ``catalogue`` (idempotent)."""
    if set_info(factory, CATALOGUE_KEY, catalogue):
        listen(factory, "before_flush", _before_flush)
        listen(factory, "do_orm_execute", _on_execute)
