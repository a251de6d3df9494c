"""Request and response bodies of the tenancy API. Inputs forbid unknown fields:
a ``tenant_id`` in a body is refused, never trusted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from tenantry.models import Membership, Tenant, TenantKind, User
from tenantry.roles import Role
from tenantry.text import CONTROL, problem_with_line


def _one_line(value: str) -> str:
    problem = problem_with_line(value)
    if problem:
        raise ValueError(problem)
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]


def _iso_8601(value: object) -> object:
    # pydantic reads a number, "0.5" in a query string too, as a Unix time: 1970.
    if isinstance(value, datetime):
        return value
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            "use an ISO 8601 date-time with a zone, e.g. 2026-01-31T08:00:00Z"
        ) from None
    return value


def _utc_representable(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 is a valid date-time whose UTC time is in year 0: the store
    # (and any comparison with a stored time) converts it, which must not be a 500.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: use a date-time between years 1 and 9999 in UTC") from None
    return value


IsoDateTime = Annotated[
    AwareDatetime, BeforeValidator(_iso_8601), AfterValidator(_utc_representable)
]
"""A date-time with its zone, written as ISO 8601 (never a number), within UTC's range."""


class Input(BaseModel):
    """A request body: unknown fields refused, text trimmed and free of control characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if any(CONTROL.search(text) for text in _texts(value)):
            raise ValueError("control characters are not allowed")
        return value


def _texts(value: Any) -> Iterator[str]:
    """Every string in ``value``: itself, or inside lists, dicts (keys too) and models.

    A NUL in a ``list[str]`` item or a nested model was stored by SQLite and refused by
    PostgreSQL, the very difference the rule is there to prevent.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        yield from _texts(list(value.__dict__.values()))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _texts(item)


class RegisterIn(Input):
    email: OneLine = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    display_name: OneLine = Field(default="", max_length=200)
    invite_code: str | None = Field(default=None, max_length=100)
    # The bound on the text, not on the union: "at most 200 characters", not "200 items".
    tenant_name: Annotated[str, Field(max_length=200), AfterValidator(_one_line)] | None = None
    # The new tenant's kind (without an invite); the app's default_tenant_kind otherwise.
    tenant_kind: TenantKind | None = None


class LoginIn(Input):
    email: OneLine = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenIn(Input):
    token: str = Field(min_length=1, max_length=2000)


class ForgotIn(Input):
    email: OneLine = Field(min_length=1, max_length=320)


class ResetIn(Input):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class Accepted(BaseModel):
    """A request taken; what happens next arrives by mail."""

    status: str = "accepted"
    message: str


class RefreshIn(Input):
    refresh_token: str = Field(min_length=1, max_length=200)


class SwitchIn(Input):
    tenant_id: uuid.UUID


class TenantIn(Input):
    name: OneLine = Field(min_length=1, max_length=200)
    kind: TenantKind = TenantKind.FAMILY


class RenameIn(Input):
    name: OneLine = Field(min_length=1, max_length=200)


class RoleIn(Input):
    role: Role


class TransferIn(Input):
    user_id: int


class InviteIn(Input):
    role: Role = Role.MEMBER
    expires_in_hours: int = Field(default=168, ge=1, le=2160)
    max_uses: int = Field(default=1, ge=1, le=1000)
    email: Annotated[str, Field(max_length=320), AfterValidator(_one_line)] | None = None


class JoinIn(Input):
    code: str = Field(min_length=1, max_length=100)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime
    tenant_id: uuid.UUID | None  # None: no tenant yet; create one or join one
    role: Role | None


class TenantOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    kind: str
    plan: str
    status: str
    role: Role | None = None

    @classmethod
    def of(cls, tenant: Tenant, role: str | None = None) -> TenantOut:
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            kind=tenant.kind,
            plan=tenant.plan,
            status=tenant.status,
            role=Role(role) if role else None,
        )


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, membership: Membership, user: User) -> MemberOut:
        return cls(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=Role(membership.role),
            joined_at=membership.joined_at,
        )


class MeOut(BaseModel):
    id: int
    email: str
    display_name: str
    is_platform_admin: bool
    current_tenant_id: uuid.UUID | None
    memberships: list[TenantOut]


class InviteOut(BaseModel):
    id: uuid.UUID
    role: Role
    email: str | None
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked: bool


class InviteCreatedOut(InviteOut):
    code: str


class InvitePreviewOut(BaseModel):
    tenant_name: str
    inviter: str
    role: Role
    expires_at: datetime


class AuditOut(BaseModel):
    id: int  # the ``before`` of the next page
    action: str
    actor_id: int | None
    # An erased person's events: no id, the same random name on each (privacy.erase_user).
    actor_pseudonym: str | None = None
    target: str | None
    details: dict[str, object]
    created_at: datetime
