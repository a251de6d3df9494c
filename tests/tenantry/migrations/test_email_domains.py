"""0010: addresses stored with an ASCII-encoded domain are found under its Unicode form,
and one mailbox signed up in both spellings becomes one account its owner can reach."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tenantry.models import Invite, Membership, RefreshToken, Tenant, User
from tenantry.models.user import NO_PASSWORD, is_erased_address
from tests.support.databases import TestDatabase, migrate

ASCII = "xn--bcher-kva.example"
NOW = datetime.now(UTC)


def _user(session: Session, email: str, *, confirmed: bool = True, admin: bool = False) -> int:
    user = User(
        email=email,
        password_hash="$argon2id$not-checked-here",
        email_verified_at=NOW if confirmed else None,
        is_platform_admin=admin,
    )
    session.add(user)
    session.flush()
    return user.id


def _tenant(session: Session, slug: str, *members: tuple[int, str]) -> uuid.UUID:
    tenant = Tenant(id=uuid.uuid4(), slug=slug, name=slug)
    session.add(tenant)
    session.flush()
    session.add_all(Membership(tenant_id=tenant.id, user_id=u, role=r) for u, r in members)
    return tenant.id


def test_the_upgrade_rewrites_ascii_domains_and_merges_one_mailbox_s_accounts(
    database: TestDatabase,
) -> None:
    engine = create_engine(database.owner_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(
                text(
                    "UPDATE alembic_version SET version_num = '0009_billing_superseded' "
                    "WHERE version_num = '0010_unicode_email_domains'"
                )
            )
            zoe = _user(session, f"zoe@{ASCII}")
            # Both confirmed: the Unicode one keeps the address and gets the other's homes.
            ann_ascii = _user(session, f"ann@{ASCII}", admin=True)
            ann = _user(session, "ann@bücher.example")
            shared = _tenant(session, "shared", (ann_ascii, "owner"), (ann, "viewer"))
            ascii_home = _tenant(session, "ascii-home", (ann_ascii, "owner"))
            session.add(
                RefreshToken(
                    token_hash="1" * 64,
                    family_id=uuid.uuid4(),
                    user_id=ann_ascii,
                    tenant_id=ascii_home,
                    expires_at=NOW + timedelta(days=1),
                )
            )
            # Only the ASCII one confirmed: it keeps the address; the unconfirmed one
            # (anyone could have made it) gives it nothing.
            ben = _user(session, f"ben@{ASCII}")
            ben_unconfirmed = _user(session, "ben@bücher.example", confirmed=False)
            squatted = _tenant(session, "squatted", (ben_unconfirmed, "owner"))
            bad = _user(session, "bad@xn--zz.example")  # not IDNA: kept as it is
            session.add(
                Invite(
                    tenant_id=shared,
                    code_hash="0" * 64,
                    role="member",
                    email=f"max@{ASCII}",
                    expires_at=NOW + timedelta(days=1),
                )
            )
        migrate(database.owner_url)
        with Session(engine) as session:
            users = {u.id: u for u in session.scalars(select(User))}
            roles = {(m.tenant_id, m.user_id): m.role for m in session.scalars(select(Membership))}
            invited = session.scalar(select(Invite.email))
            revoked = session.scalar(
                select(RefreshToken.revoked_at).where(RefreshToken.user_id == ann_ascii)
            )
    finally:
        engine.dispose()
    assert users[zoe].email == "zoe@bücher.example"
    assert users[ann].email == "ann@bücher.example"
    assert users[ann].is_platform_admin
    assert roles[(shared, ann)] == "owner" and roles[(ascii_home, ann)] == "owner"
    assert not any(user == ann_ascii for _t, user in roles)
    assert users[ben].email == "ben@bücher.example"
    assert roles[(squatted, ben_unconfirmed)] == "owner" and (squatted, ben) not in roles
    for gone in (ann_ascii, ben_unconfirmed):
        assert is_erased_address(users[gone].email)
        assert users[gone].password_hash == NO_PASSWORD
    assert revoked is not None
    assert users[bad].email == "bad@xn--zz.example"
    assert invited == "max@bücher.example"
