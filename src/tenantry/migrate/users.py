"""Legacy users become tenantry users, each the owner of a tenant of their own."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, insert, inspect
from sqlalchemy.types import NullType

from tenantry.migrate.errors import MappingError
from tenantry.migrate.mapping import Mapping, ProblemKind
from tenantry.models import Membership, Tenant, User, normalize_email
from tenantry.security.legacy_hashes import identify
from tenantry.slugs import slugify as canonical_slug
from tenantry.slugs import with_suffix

# A password hash nobody can match: users without one must reset their password.
UNUSABLE_PASSWORD = "!tenantize:no-password"  # noqa: S105 - not a password
ACCOUNT_BATCH = 2_000  # users (with their tenants and memberships) inserted at a time


@dataclass(frozen=True, slots=True)
class LegacyUser:
    id: int
    email: str | None
    canonical: str  # after overrides, trimmed and case-folded
    password_hash: str | None
    display_name: str | None
    created_at: Any


def read_users(conn: Connection, mapping: Mapping, q: Callable[[str], str]) -> list[LegacyUser]:
    """Every row of the legacy users table, with its canonical email."""
    u = mapping.users
    _check_id_type(conn, u.table, u.id)
    cols = [u.id, u.email, u.password_hash, u.display_name, u.created_at]
    select = ", ".join(q(c) if c else "NULL" for c in cols)
    rows = conn.exec_driver_sql(f"SELECT {select} FROM {q(u.table)} ORDER BY {q(u.id)}")
    result = []
    for raw_id, email, pw, name, created in rows:
        uid = _integer_id(raw_id, f"{u.table}.{u.id}")
        chosen = u.email_overrides.get(uid, email)
        canonical = normalize_email(chosen) if isinstance(chosen, str) else ""
        if isinstance(pw, bytes | memoryview):
            pw = bytes(pw).decode("utf-8", "replace")
        result.append(LegacyUser(uid, email, canonical, pw, name, created))
    _check_overrides(result, u.email_overrides)
    return result


def _check_overrides(users: list[LegacyUser], overrides: dict[int, str]) -> None:
    """An override for no user, or one giving a user someone else's address, is a mistake
    in the mapping: it was ignored, or quietly suffixed like a collision."""
    known = {user.id for user in users}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise MappingError(
            f"[users.email_overrides] names user ids {_ids(unknown)} that the users "
            "table does not have"
        )
    for group in _collisions(users):
        chosen = [user.id for user in group if user.id in overrides]
        if chosen:
            others = [user.id for user in group if user.id != chosen[0]]
            raise MappingError(
                f"[users.email_overrides] gives user {chosen[0]} the address "
                f"{group[0].canonical!r}, which user(s) {_ids(others)} have too"
            )


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")


def _check_id_type(conn: Connection, table: str, column: str) -> None:
    """Users keyed by a type other than an integer are refused by the column's type, not
    only by its values: an empty users table keyed by uuid passed the dry run, and
    ``--apply`` stopped half-way (``integer = uuid``)."""
    declared = next(
        (c["type"] for c in inspect(conn).get_columns(table) if c["name"] == column), None
    )
    if declared is None or isinstance(declared, Integer | NullType):
        return  # NullType: SQLite's column without a declared type, judged by its values
    raise MappingError(
        f"{table}.{column} is {declared}: tenantize keeps each user's id, and tenantry's "
        "user ids are integers, so users keyed by text or UUIDs cannot be converted yet "
        "(docs/tenantize.md, Known limits)"
    )


def _integer_id(value: Any, column: str) -> int:
    """A legacy user id as an integer: tenantry's accounts keep the legacy ids, so the
    references to them still hold, and its user ids are integers."""
    try:
        if isinstance(value, int | str) and not isinstance(value, bool):
            return int(value)
    except ValueError:
        pass
    raise MappingError(
        f"{column} holds {value!r}: tenantize keeps each user's id, and tenantry's user ids "
        "are integers, so users keyed by text or UUIDs cannot be converted yet "
        "(docs/tenantize.md, Known limits)"
    )


def password_formats(users: list[LegacyUser]) -> dict[str, int]:
    """How many users have a hash of each format (``none``: no hash, ``unknown``)."""
    counts: dict[str, int] = {}
    for user in users:
        kind = "none" if not user.password_hash else identify(user.password_hash) or "unknown"
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def password_problems(users: list[LegacyUser], mapping: Mapping) -> list[Any]:
    """Hashes tenantry cannot check at sign-in: each one a problem, never a silent loss."""
    from tenantry.migrate.plan import Problem

    if mapping.users.password_hash is None:
        return []
    unknown = [u for u in users if u.password_hash and identify(u.password_hash) is None]
    if not unknown:
        return []
    policy = mapping.policy(ProblemKind.PASSWORD_FORMAT)
    return [
        Problem(
            ProblemKind.PASSWORD_FORMAT.value,
            mapping.users.table,
            len(unknown),
            f"{len(unknown)} user(s) have a password hash in a format tenantry cannot check "
            "(it checks argon2, bcrypt $2a/$2b/$2y and PBKDF2: Django, passlib, Werkzeug); "
            'password_format = "reset" imports them without a usable password',
            policy.action,
            policy.fails,
            [f"id {u.id}: {_shape(u.password_hash or '')}" for u in unknown[:5]],
        )
    ]


def _shape(value: str) -> str:
    """What a hash looks like, without printing it: its prefix and length."""
    return f"{value[:7]!r}… ({len(value)} characters)"


def usable_hash(user: LegacyUser) -> str:
    """The hash to import: as it was if tenantry can check it, else unusable (reset)."""
    if user.password_hash and identify(user.password_hash) is not None:
        return user.password_hash
    return UNUSABLE_PASSWORD


def _valid(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and domain)


def email_problems(users: list[LegacyUser], mapping: Mapping) -> list[Any]:
    """Invalid emails and emails that collide once trimmed and case-folded."""
    from tenantry.migrate.plan import Problem

    table = mapping.users.table
    problems: list[Problem] = []
    invalid = [u for u in users if not _valid(u.canonical)]
    if invalid:
        problems.append(
            Problem(
                ProblemKind.INVALID_EMAIL.value,
                table,
                len(invalid),
                f"{len(invalid)} user(s) have no usable email; give each one in "
                "[users.email_overrides]",
                "fail",
                True,
                [f"id {u.id}: {u.email!r}" for u in invalid[:5]],
            )
        )
    groups = _collisions(users)
    if groups:
        policy = mapping.policy(ProblemKind.EMAIL_COLLISION)
        involved = sum(len(g) for g in groups)
        problems.append(
            Problem(
                ProblemKind.EMAIL_COLLISION.value,
                table,
                involved,
                f"{involved} user(s) in {len(groups)} group(s) share an email once trimmed and "
                "case-folded; accounts are never merged: set [users.email_overrides] or "
                'email_collision = "suffix"',
                policy.action,
                policy.fails,
                [" / ".join(f"id {u.id}: {u.email!r}" for u in g) for g in groups[:5]],
            )
        )
    return problems


def _collisions(users: list[LegacyUser]) -> list[list[LegacyUser]]:
    by_email: dict[str, list[LegacyUser]] = defaultdict(list)
    for user in users:
        if _valid(user.canonical):
            by_email[user.canonical].append(user)
    return [g for g in by_email.values() if len(g) > 1]


def final_emails(users: list[LegacyUser]) -> dict[int, str]:
    """Canonical emails, colliding ones suffixed: the lowest id keeps the address."""
    result = {u.id: u.canonical for u in users}
    for group in _collisions(users):
        for user in sorted(group, key=lambda u: u.id)[1:]:
            local, _, domain = user.canonical.rpartition("@")
            result[user.id] = f"{local}+legacy-{user.id}@{domain}"
    return result


def email_changes(users: list[LegacyUser], mapping: Mapping) -> list[dict[str, Any]]:
    """Every user who signs in with another address than before, and why: a suffix only
    where the collision policy gives one (under ``fail`` the collision stops the run)."""
    final = final_emails(users)
    suffixing = mapping.policy(ProblemKind.EMAIL_COLLISION).action == "suffix"
    changes = []
    for user in users:
        before = normalize_email(user.email) if isinstance(user.email, str) else ""
        if final[user.id] == before:
            continue
        reason = "override" if user.id in mapping.users.email_overrides else "suffix"
        if reason == "suffix" and not suffixing:
            continue
        changes.append(
            {
                "user_id": user.id,
                "legacy_email": user.email,
                "email": final[user.id],
                "reason": reason,
            }
        )
    return changes


def slugify(text: str, suffix: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:40] or "user"
    return f"{base}-{suffix}"


def tenant_name(template: str, user: LegacyUser, email: str) -> str:
    local = email.rpartition("@")[0]
    fields = {
        "email": email,
        "local": local,
        "display_name": (user.display_name or "").strip() or local,
        "id": str(user.id),
    }
    return template.format_map(fields)[:200]


def _created(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return now
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return now


def single_owner(users: list[LegacyUser], mapping: Mapping) -> LegacyUser:
    """The owner of the one tenant (``[tenants] single``): the user ``owner`` names,
    else the one of the lowest id.

    Raises:
        MappingError: ``owner`` is no user's email, or there are no users.
    """
    if mapping.single_owner is not None:
        wanted = normalize_email(mapping.single_owner)
        found = next((u for u in users if u.canonical == wanted), None)
        if found is None:
            raise MappingError(
                f"[tenants] owner names {mapping.single_owner!r}, but no user has that email"
            )
        return found
    if not users:
        raise MappingError("[tenants] single = true needs a user to own the tenant")
    return min(users, key=lambda u: u.id)


def _single_tenant(
    conn: Connection,
    users: list[LegacyUser],
    emails: dict[int, str],
    mapping: Mapping,
    now: datetime,
) -> tuple[uuid.UUID, int]:
    """Insert the one tenant of ``[tenants] single``; its id and its owner's user id."""
    owner = single_owner(users, mapping)
    name = tenant_name(mapping.tenant_name, owner, emails[owner.id])
    tid = uuid.uuid4()
    row = {
        "id": tid,
        "slug": _free_slug(canonical_slug(name), mapping),
        "name": name,
        "kind": mapping.tenant_kind,
        "plan": mapping.tenant_plan,
        "status": "active",
        "settings": {"tenantized_single": True},
        "created_at": now,
        "updated_at": now,
    }
    _insert(conn, [(Tenant.__table__, [row])])
    return tid, owner.id


def _free_slug(slug: str, mapping: Mapping) -> str:
    """``slug``, unless an extra tenant of the mapping takes it."""
    return with_suffix(slug) if slug in mapping.extra_tenants else slug


def create_accounts(
    conn: Connection, users: list[LegacyUser], mapping: Mapping, owners_table: str
) -> dict[str, uuid.UUID]:
    """Insert tenantry users (legacy ids kept), personal tenants, owner memberships,
    extra tenants and the legacy-user -> tenant table. Returns the extra tenants' ids
    by slug and every user's personal tenant by canonical email.
    """
    now = datetime.now(UTC)
    emails = final_emails(users)
    tenants: dict[str, uuid.UUID] = {}
    owners = owners_sa_table(owners_table)
    single = _single_tenant(conn, users, emails, mapping, now) if mapping.single_tenant else None
    # In batches: memory stays flat in the number of users (50k users would hold ~90 MB
    # of row dicts at once).
    for start in range(0, len(users), ACCOUNT_BATCH):
        user_rows, tenant_rows, member_rows, owner_rows = [], [], [], []
        for user in users[start : start + ACCOUNT_BATCH]:
            tid = single[0] if single else uuid.uuid4()
            email = emails[user.id]
            tenants[user.canonical] = tid
            user_rows.append(
                {
                    "id": user.id,
                    "email": email,
                    "password_hash": usable_hash(user),
                    "display_name": (user.display_name or "")[:200],
                    "is_platform_admin": False,
                    "created_at": _created(user.created_at, now),
                    "email_verified_at": now,  # accounts of the legacy app sign in as before
                }
            )
            owner_rows.append({"user_id": user.id, "tenant_id": tid})
            if single:
                role = "owner" if user.id == single[1] else mapping.member_role
                member_rows.append(
                    {"tenant_id": tid, "user_id": user.id, "role": role, "joined_at": now}
                )
                continue
            tenant_rows.append(
                {
                    "id": tid,
                    "slug": slugify(email.rpartition("@")[0], str(user.id)),
                    "name": tenant_name(mapping.tenant_name, user, email),
                    "kind": mapping.tenant_kind,
                    "plan": mapping.tenant_plan,
                    "status": "active",
                    "settings": {"tenantized_from_user": user.id},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            member_rows.append(
                {"tenant_id": tid, "user_id": user.id, "role": "owner", "joined_at": now}
            )
        _insert(conn, [(User.__table__, user_rows), (Tenant.__table__, tenant_rows)])
        _insert(conn, [(Membership.__table__, member_rows), (owners, owner_rows)])
    by_email = {emails[u.id]: u.id for u in users} | {u.canonical: u.id for u in users}
    extra_tenants, extra_members = [], []
    for extra in mapping.extra_tenants.values():
        tid = uuid.uuid4()
        tenants[extra.slug] = tid
        extra_tenants.append(
            {
                "id": tid,
                "slug": extra.slug,
                "name": extra.name,
                "kind": extra.kind,
                "plan": mapping.tenant_plan,
                "status": "active",
                "settings": {"tenantized_extra": True},
                "created_at": now,
                "updated_at": now,
            }
        )
        if extra.owner_email:
            owner_id = by_email[normalize_email(extra.owner_email)]
            extra_members.append(
                {"tenant_id": tid, "user_id": owner_id, "role": "owner", "joined_at": now}
            )
    _insert(conn, [(Tenant.__table__, extra_tenants), (Membership.__table__, extra_members)])
    return tenants


def _insert(conn: Connection, batches: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    for table, rows in batches:
        if rows:
            conn.execute(insert(table), rows)


def owners_sa_table(name: str) -> Any:
    """The legacy user -> tenant table, as SQLAlchemy Core sees it."""
    from sqlalchemy import Column, Integer, MetaData, Table, Uuid

    return Table(
        name,
        MetaData(),
        Column("user_id", Integer, primary_key=True),
        Column("tenant_id", Uuid(), nullable=False),
    )
