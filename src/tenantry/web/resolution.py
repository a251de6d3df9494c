"""Resolution proposes, membership decides: from a request to a verified TenantContext.

Sources, first match wins: the path prefix ``/t/{slug}/``, a subdomain of the
configured base domain, the tenant header (``X-Tenant-ID`` unless configured), the token's tenant
claim. Whatever the source, the membership is read from the database on every
request, so a removal or a downgrade takes effect on the next request.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Session, aliased
from starlette.requests import Request

from tenantry.context import TenantContext
from tenantry.db import InlineReads
from tenantry.errors import AuthenticationFailed, TenantDeleted, TenantNotFound, TenantSuspended
from tenantry.ids import TenantId, UserId, is_user_id
from tenantry.models import Membership, PlanOverride, Tenant, TenantStatus, User
from tenantry.plans.catalogue import REQUESTS_PER_MINUTE
from tenantry.rls.policy import TENANT_SETTING
from tenantry.rls.session import begin_setting_tenant
from tenantry.roles import Role
from tenantry.slugs import SITE_LABEL, is_canonical
from tenantry.web.path_prefix import CLAIM_KEY

TENANT_HEADER = "x-tenant-id"


@dataclass(frozen=True, slots=True)
class TenantClaim:
    """A tenant named by the request; not yet checked."""

    source: str
    tenant_id: uuid.UUID | None = None
    slug: str | None = None


def _subdomain(host: str, base_domain: str) -> str | None:
    """What ``host`` names under ``base_domain``: ``None`` for the site itself (the domain,
    ``www``) and other hosts; else the label, refused later unless it is a slug. A host
    such as ``x.a.example.com`` names no tenant and must not fall through to the token's."""
    host = host.split(":", 1)[0].lower().rstrip(".")
    suffix = "." + base_domain.lower()
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return None if label == SITE_LABEL else label


def claim_from_request(
    request: Request,
    token_tenant: uuid.UUID | None,
    base_domain: str | None,
    header_name: str = TENANT_HEADER,
) -> TenantClaim | None:
    slug = request.scope.get(CLAIM_KEY)
    if slug:
        return TenantClaim("path", slug=slug)
    if base_domain:
        sub = _subdomain(request.headers.get("host", ""), base_domain)
        if sub is not None:  # "" (a host like ".example.com") is refused as any non-slug
            return TenantClaim("subdomain", slug=sub)
    header = request.headers.get(header_name)
    if header:
        try:
            return TenantClaim("header", tenant_id=uuid.UUID(header.strip()))
        except ValueError as exc:
            raise TenantNotFound("tenant not found") from exc
    if token_tenant is not None:
        return TenantClaim("token", tenant_id=token_tenant)
    return None


_OTHER = aliased(PlanOverride)


def _membership_query(tenant: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    # Built once at import: constructing a joined select costs more than running it.
    # The user is the outer side: a missing user (401) differs from a missing membership (404).
    # The tenant's per-minute budget override comes along (its primary key): admit() counts
    # every request against it, and a change counts on the next request. So does whether
    # the tenant overrides nothing else: then its plan's limits are its own, and a write
    # under no limit skips the quota's read of the tenant row (tenantry.plans.quotas).
    return (
        select(
            User.session_version,
            Tenant.id,
            Tenant.status,
            Membership.role,
            Tenant.plan,
            PlanOverride.name,
            PlanOverride.value,
            ~exists().where(_OTHER.tenant_id == Tenant.id, _OTHER.name != REQUESTS_PER_MINUTE),
        )
        .select_from(User)
        .outerjoin(Tenant, tenant)
        .outerjoin(
            Membership, and_(Membership.tenant_id == Tenant.id, Membership.user_id == User.id)
        )
        .outerjoin(
            PlanOverride,
            and_(PlanOverride.tenant_id == Tenant.id, PlanOverride.name == REQUESTS_PER_MINUTE),
        )
        .where(User.id == bindparam("user_id"))
    )


_BY_ID = _membership_query(Tenant.id == bindparam("tenant_id"))
_BY_SLUG = _membership_query(Tenant.slug == bindparam("slug"))
# The same, also setting the RLS tenant: its id where the membership exists, else ''.
_SETTING = func.set_config(
    TENANT_SETTING, case((Membership.role.is_not(None), cast(Tenant.id, String)), else_=""), True
)
_SETS_BY_ID = _BY_ID.add_columns(_SETTING)
_SETS_BY_SLUG = _BY_SLUG.add_columns(_SETTING)


def _statement(
    claim: TenantClaim, user_id: int, *, sets_tenant: bool = False
) -> tuple[Select[*tuple[Any, ...]], dict[str, Any]]:
    """The membership query for ``claim``, after the checks that need no database."""
    if not is_user_id(user_id):
        raise AuthenticationFailed("this account no longer exists")
    if claim.slug is not None:
        if not is_canonical(claim.slug):
            raise TenantNotFound("tenant not found")
        return (_SETS_BY_SLUG if sets_tenant else _BY_SLUG), {
            "slug": claim.slug,
            "user_id": user_id,
        }
    params: dict[str, Any] = {"tenant_id": claim.tenant_id, "user_id": user_id}
    return (_SETS_BY_ID if sets_tenant else _BY_ID), params


def _context(
    row: Sequence[Any] | None, user_id: int, session_version: int | None, allow_suspended: bool
) -> TenantContext:
    if row is None:
        raise AuthenticationFailed("this account no longer exists")
    version, tenant_id, status, role, plan, override, per_minute, as_is = tuple(row)[:8]
    if session_version is not None and version != session_version:
        raise AuthenticationFailed("this session has ended; sign in again")
    if role is None:
        raise TenantNotFound("tenant not found")
    if status == TenantStatus.DELETED.value:
        raise TenantDeleted("this tenant was deleted; an owner can restore it for a while")
    if status != TenantStatus.ACTIVE.value and not (
        allow_suspended and status == TenantStatus.SUSPENDED.value
    ):
        raise TenantSuspended("this tenant is suspended")
    return TenantContext(
        TenantId(tenant_id),
        UserId(user_id),
        Role(role),
        plan,
        rate_overridden=override is not None,
        rate_override=per_minute,
        plan_as_is=bool(as_is),
    )


def resolve_membership(
    session: Session,
    claim: TenantClaim,
    user_id: int,
    *,
    session_version: int | None = None,
    allow_suspended: bool = False,
) -> TenantContext:
    """Turn a claim into a context, or refuse with the same 404 as "no such tenant".

    One indexed query: the user, the tenant and the caller's membership.

    Raises:
        AuthenticationFailed: the user no longer exists, or ``session_version`` (the
            access token's) is not the user's any more (a password reset ended it).
        TenantNotFound: no such tenant, or not a member.
        TenantSuspended: the tenant is suspended (unless ``allow_suspended``: the
            few routes that let an owner settle a suspension, e.g. the billing portal).
    """
    statement, params = _statement(claim, user_id)
    row = session.execute(statement, params).first()
    return _context(row, user_id, session_version, allow_suspended)


def resolve_membership_inline(
    reads: InlineReads,
    claim: TenantClaim,
    user_id: int,
    *,
    session_version: int | None = None,
    allow_suspended: bool = False,
) -> TenantContext:
    """:func:`resolve_membership` on a bare connection of an SQLite file
    (:meth:`InlineReads.first <tenantry.db.InlineReads.first>`): the same query and
    rules, without an ORM session around its one indexed read."""
    statement, params = _statement(claim, user_id)
    return _context(reads.first(statement, params), user_id, session_version, allow_suspended)


def resolve_and_set_tenant(
    session: Session,
    claim: TenantClaim,
    user_id: int,
    *,
    session_version: int,
    allow_suspended: bool = False,
) -> TenantContext:
    """:func:`resolve_membership` as the first statement of ``session``'s transaction, which
    also sets the RLS tenant (PostgreSQL): the check and the setting in one round trip.

    The setting is the tenant's id only where the membership exists, ``''`` (no rows)
    otherwise; the same errors are raised before anything else runs. ``session`` must
    not have begun.
    """
    statement, params = _statement(claim, user_id, sets_tenant=True)
    row = begin_setting_tenant(session, statement, params)
    return _context(row, user_id, session_version, allow_suspended)


class RecentChecks:
    """The claims whose membership check passed lately, each with the context it gave.

    Not an authority: a request of a known claim skips the check *before* its
    tenant's slot and runs it as the first statement of its own transaction
    (:func:`resolve_and_set_tenant`), so a removal or downgrade still counts on
    the next request. A claim never checked, or whose last check failed, is
    checked before the slot, so naming another tenant never queues in its slots.
    Bounded: the oldest entries go first.
    """

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: dict[tuple[Any, ...], TenantContext] = {}
        self._limit = limit

    def get(self, key: tuple[Any, ...]) -> TenantContext | None:
        return self._entries.get(key)

    def passed(self, key: tuple[Any, ...], ctx: TenantContext) -> None:
        entries = self._entries
        if key not in entries and len(entries) >= self._limit:
            # Loops in other threads (several in one process) may change it meanwhile.
            with suppress(StopIteration, KeyError, RuntimeError):
                del entries[next(iter(entries))]
        entries[key] = ctx

    def failed(self, key: tuple[Any, ...]) -> None:
        self._entries.pop(key, None)
