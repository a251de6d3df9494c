"""The fleet of tenants as an operator sees it: list, search, sizes, usage, and actions.

Everything here reads across tenants, so it is for platform admins only: the
web layer puts it behind ``PlatformAdmin``, and each read of tenant data goes
through :func:`tenantry.scoping.unscoped`, which records who looked and why.
Listing pages by keyset on an indexed sort key, so page 2,000 of 100,000
tenants costs what page 1 does.
"""

from __future__ import annotations

import base64
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Table, false, func, inspect, select, text, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tenantry import audit, plans, tenants
from tenantry.activity import activity_of
from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import Conflict, PaymentDue, ValidationFailed
from tenantry.ids import TenantId, UserId
from tenantry.models import (
    BillingAccount,
    Membership,
    Tenant,
    TenantStatus,
    UsageCounter,
    User,
    normalize_email,
)
from tenantry.models.billing import PAST_DUE, SUSPENDED
from tenantry.plans import REQUESTS, Catalogue, period_start
from tenantry.rls.policy import TENANT_SETTING
from tenantry.roles import Role
from tenantry.scoping import tenant_tables, unscoped

COUNT_CAP = 10_000
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SORTS: dict[str, Any] = {"created": Tenant.created_at, "name": Tenant.name, "slug": Tenant.slug}
MAX_PAGE = 200
_SET_TENANT = text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)")


@dataclass(frozen=True, slots=True)
class TenantSummary:
    """A row of the console's tenant list; the plans module may fill ``usage``."""

    id: uuid.UUID
    slug: str
    name: str
    kind: str
    plan: str
    status: str
    created_at: datetime
    members: int
    rows: dict[str, int]
    bytes: int | None
    requests: int
    last_active_at: datetime | None
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class TenantPage:
    items: list[TenantSummary]
    total: int  # searches count up to COUNT_CAP + 1; the whole list is counted once a minute
    next_cursor: str | None
    sort: str
    descending: bool
    q: str


class FleetStats:
    """Figures too costly for every page, measured at most once per ``ttl`` seconds.

    The number of tenants, and the bytes and rows of each tenant table.

    SQLite: the ``dbstat`` table (tables plus their indexes) and ``count(*)``.
    PostgreSQL: ``pg_total_relation_size`` and the planner's row estimate.
    A tenant's bytes are each table's bytes apportioned by its share of the rows.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._at = -ttl
        self._sizes: dict[str, tuple[int | None, int]] = {}
        self._tables: list[Table] = []
        self._tenants = 0

    def _refresh(self, session: Session) -> None:
        if time.monotonic() - self._at >= self.ttl:
            self._tenants = session.scalar(select(func.count()).select_from(Tenant)) or 0
            # Mapped tenant tables that exist in this database (a host may map more).
            present = set(inspect(session.connection()).get_table_names())
            self._tables = sorted(
                (t for t in tenant_tables() if t.name in present), key=lambda t: t.name
            )
            self._sizes = _measure(session, self._tables)
            self._at = time.monotonic()

    def get(self, session: Session) -> dict[str, tuple[int | None, int]]:
        self._refresh(session)
        return self._sizes

    def tenant_count(self, session: Session) -> int:
        self._refresh(session)
        return self._tenants

    def tables(self, session: Session) -> list[Table]:
        self._refresh(session)
        return self._tables


def _measure(session: Session, tables: list[Table]) -> dict[str, tuple[int | None, int]]:
    names = [t.name for t in tables]
    if not names:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint "
                "FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(:names) "
                "AND pg_table_is_visible(c.oid)"
            ),
            {"names": names},
        )
        return {name: (int(size), max(int(est), 0)) for name, size, est in rows}
    try:
        sized: dict[str, int] = dict(
            session.execute(
                text(
                    "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s "
                    "JOIN sqlite_master m ON m.name = s.name GROUP BY m.tbl_name"
                )
            ).all()
        )
    except OperationalError:  # SQLite built without dbstat: sizes unknown, counts still shown
        sized = {}
    with unscoped(session, reason="operator console: table sizes"):
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in tables}
    return {name: (sized.get(name), counts[name]) for name in names}


def _row_counts(
    session: Session, ids: list[uuid.UUID], tables: list[Table]
) -> dict[uuid.UUID, dict[str, int]]:
    """Rows per tenant table of each tenant in ``ids``."""
    out: dict[uuid.UUID, dict[str, int]] = {i: {t.name: 0 for t in tables} for i in ids}
    if not ids or not tables:
        return out
    if session.get_bind().dialect.name == "postgresql":
        # RLS shows each tenant its own rows only: count tenant by tenant, in its setting.
        conn = session.connection()
        counts = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
        try:
            for tenant_id in ids:
                conn.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})
                row = conn.execute(counts).one()
                out[tenant_id] = {t.name: int(n) for t, n in zip(tables, row, strict=True)}
        finally:
            conn.execute(_SET_TENANT, {"tenant_id": ""})
        return out
    for table in tables:
        rows = session.execute(
            select(table.c.tenant_id, func.count())
            .where(table.c.tenant_id.in_(ids))
            .group_by(table.c.tenant_id)
        )
        for tenant_id, n in rows:
            out[tenant_id][table.name] = n
    return out


def _order(sort: str, descending: bool) -> str:
    return f"{sort} {'desc' if descending else 'asc'}"


def _encode(value: Any, tenant_id: uuid.UUID, order: str) -> str:
    """The next page's link: where the page ended, and in which order (a link is only
    good for the order it was made in: a name compared with creation times finds nothing)."""
    raw = orjson.dumps(
        [value.isoformat() if isinstance(value, datetime) else value, str(tenant_id), order]
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, sort: str, order: str) -> tuple[Any, uuid.UUID]:
    try:
        value, tenant_id, made_for = orjson.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        if sort == "created":
            value = datetime.fromisoformat(value)
        if not isinstance(value, (str, datetime)):
            raise TypeError
        found = value, uuid.UUID(tenant_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed("this page link is not valid", details={"field": "cursor"}) from exc
    if made_for != order:
        raise ValidationFailed(
            f"this page link is for the list sorted by {made_for}, not {order}: "
            "start again from the first page",
            details={"field": "cursor"},
        )
    return found


def _search(q: str, dialect: str, *, anywhere: bool = False) -> Any:
    """A tenant id, a member's email, or the start (``anywhere``: any part) of the name.

    Names are searched through their slugs (a slug is its name, slugified), so
    "casa ros" finds casa-rossi by an index range; with ``anywhere`` "Rossi" finds
    it too, by a scan of every slug (about a second at 100,000 tenants on a busy
    machine): :func:`list_tenants` scans only when the start matched nothing.
    """
    try:
        return Tenant.id == uuid.UUID(q)
    except ValueError:
        pass
    if "@" in q:
        owners = (
            select(Membership.tenant_id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == normalize_email(q))
        )
        return Tenant.id.in_(owners)
    ascii_q = unicodedata.normalize("NFKD", q).encode("ascii", "ignore").decode().lower()
    prefix = _NOT_SLUG.sub("-", ascii_q).lstrip("-")
    if not prefix:
        return false()
    # [a-z0-9-] only, so no wildcard can hide in it. SQLite uses the slug index for a
    # case-sensitive GLOB; PostgreSQL for LIKE with the text_pattern_ops index (0005).
    lead = "*" if anywhere else ""
    if dialect == "sqlite":
        return Tenant.slug.op("GLOB")(lead + prefix + "*")
    return Tenant.slug.like(("%" if anywhere else "") + prefix + "%")


def _count(session: Session, condition: Any) -> int:
    # Counted up to a bound: a broad search must not count 100,000 rows per page.
    found = select(Tenant.id).where(condition).limit(COUNT_CAP + 1).subquery()
    return session.scalar(select(func.count()).select_from(found)) or 0


def list_tenants(
    session: Session,
    *,
    actor_id: int,
    sizes: FleetStats,
    q: str = "",
    sort: str = "created",
    descending: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> TenantPage:
    """A page of tenants with their members, rows, bytes and activity.

    ``q`` matches a tenant id, a member's email, a slug prefix or part of the
    name. ``cursor`` is the ``next_cursor`` of the previous page.

    Raises:
        ValidationFailed: an unknown sort, a bad limit or a tampered cursor.
    """
    if sort not in SORTS:
        raise ValidationFailed(f"sort by one of {', '.join(SORTS)}", details={"field": "sort"})
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1 to {MAX_PAGE}", details={"field": "limit"})
    q = q.strip()[:200]
    key = SORTS[sort]
    stmt = select(Tenant)
    if q:
        dialect = session.get_bind().dialect.name
        condition = _search(q, dialect)
        total = _count(session, condition)
        if total == 0:  # no name starts so: look for it inside the names
            condition = _search(q, dialect, anywhere=True)
            total = _count(session, condition)
        stmt = stmt.where(condition)
    else:
        total = sizes.tenant_count(session)
    if cursor:
        value, after_id = _decode(cursor, sort, _order(sort, descending))
        pair, bound = tuple_(key, Tenant.id), tuple_(value, after_id)
        stmt = stmt.where(pair < bound if descending else pair > bound)
    order = (key.desc(), Tenant.id.desc()) if descending else (key.asc(), Tenant.id.asc())
    page = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(page) > limit
    page = page[:limit]
    items = summarize(
        session, page, actor_id=actor_id, sizes=sizes, reason="operator console: list"
    )
    last = page[-1] if page and more else None
    next_cursor = (
        _encode(getattr(last, key.key), last.id, _order(sort, descending))
        if last is not None
        else None
    )
    return TenantPage(items, total, next_cursor, sort, descending, q)


def summarize(
    session: Session,
    page: list[Tenant],
    *,
    actor_id: int,
    sizes: FleetStats,
    reason: str,
) -> list[TenantSummary]:
    """The console's figures for ``page``: one query per table (per tenant on PostgreSQL)."""
    ids = [t.id for t in page]
    if not ids:
        return []
    members = dict(
        session.execute(
            select(Membership.tenant_id, func.count())
            .where(Membership.tenant_id.in_(ids))
            .group_by(Membership.tenant_id)
        ).all()
    )
    measured = sizes.get(session)
    tables = sizes.tables(session)
    with unscoped(session, reason=reason, actor_id=actor_id):
        rows = _row_counts(session, ids, tables)
    activity = activity_of(session, ids)
    usage: dict[uuid.UUID, dict[str, int]] = {i: {} for i in ids}
    for tenant_id, metric, value in session.execute(
        select(UsageCounter.tenant_id, UsageCounter.metric, UsageCounter.value).where(
            UsageCounter.tenant_id.in_(ids), UsageCounter.period_start == period_start()
        )
    ):
        usage[tenant_id][metric] = int(value)
    out = []
    for tenant in page:
        counts = rows[tenant.id]
        counted, last = activity.get(tenant.id, (0, None))
        out.append(
            TenantSummary(
                id=tenant.id,
                slug=tenant.slug,
                name=tenant.name,
                kind=tenant.kind,
                plan=tenant.plan,
                status=tenant.status,
                created_at=tenant.created_at,
                members=members.get(tenant.id, 0),
                rows=counts,
                bytes=_bytes(counts, measured),
                # The plan's meter is the figure billing sees; activity counts the same requests.
                requests=usage[tenant.id].get(REQUESTS, counted),
                last_active_at=last,
                usage=usage[tenant.id],
            )
        )
    return out


def _bytes(counts: dict[str, int], measured: dict[str, tuple[int | None, int]]) -> int | None:
    total = 0
    for name, n in counts.items():
        size, rows = measured.get(name, (None, 0))
        if size is None:
            return None
        if n:
            total += size * n // max(rows, n)
    return total


def tenant_summary(
    session: Session, tenant_id: uuid.UUID, *, actor_id: int, sizes: FleetStats
) -> TenantSummary:
    """One tenant's figures; the read is recorded in that tenant's own audit trail.

    Raises:
        TenantNotFound: no such tenant.
    """
    tenant = tenants.get_tenant(session, tenant_id)
    audit.record(session, "platform.tenant_viewed", tenant_id=tenant.id, actor_id=actor_id)
    return summarize(
        session,
        [tenant],
        actor_id=actor_id,
        sizes=sizes,
        reason="operator console: tenant",
    )[0]


def set_status(
    session: Session, *, tenant_id: uuid.UUID, actor_id: int, status: TenantStatus
) -> bool:
    """Suspend or reactivate; returns whether it changed (no change writes no event).

    An operator's suspension and billing's are two holds on one status: suspending a
    tenant billing suspended records the operator's (a payment then lifts only
    billing's), and a tenant that owes stays suspended until it pays.

    Raises:
        PaymentDue: reactivating a tenant billing holds suspended.
    """
    tenant = _alive(tenants.get_tenant(session, tenant_id))
    account = session.get(BillingAccount, tenant_id, with_for_update=True)
    owes = account is not None and account.owes
    if tenant.status == status.value:
        if status is not TenantStatus.SUSPENDED or account is None or account.status != SUSPENDED:
            return False
        # Billing's suspension now rests under the operator's (as if it came second).
        account.status, account.grace_until = PAST_DUE, None
    elif status is TenantStatus.ACTIVE and owes:
        raise PaymentDue(
            "this tenant is suspended for non-payment: it is reactivated when its payment "
            "arrives (reactivate it here afterwards if you suspended it too)"
        )
    old, tenant.status = tenant.status, status.value
    tenant.updated_at = datetime.now(UTC)
    action = (
        "platform.tenant_suspended"
        if status is TenantStatus.SUSPENDED
        else "platform.tenant_reactivated"
    )
    audit.record(session, action, tenant_id=tenant_id, actor_id=actor_id, old=old, new=status.value)
    return True


@contextmanager
def acting_on(tenant_id: uuid.UUID, admin_id: int) -> Iterator[None]:
    """A platform admin works inside the tenant's scope (plan checks count its rows, RLS too)."""
    with tenant_scope(TenantContext(TenantId(tenant_id), UserId(admin_id), Role.OWNER)):
        yield


def change_plan(
    session: Session, *, tenant_id: uuid.UUID, actor_id: int, plan: str, catalogue: Catalogue
) -> None:
    """The plans module's change, by a platform admin: same checks as an owner's, audited.

    Raises:
        ValidationFailed: no such plan; Conflict: the tenant is deleted;
        PlanChangeRefused: its use exceeds the plan.
    """
    _alive(tenants.get_tenant(session, tenant_id))
    with acting_on(tenant_id, actor_id):
        plans.change_plan(
            session,
            tenant_id=tenant_id,
            plan=plan,
            actor_id=actor_id,
            catalogue=catalogue,
            by_platform_admin=True,
        )
        session.flush()


def _alive(tenant: Tenant) -> Tenant:
    if tenant.status == TenantStatus.DELETED.value:
        raise Conflict(
            "this tenant is deleted: its owner may restore it until it is purged",
        )
    return tenant
