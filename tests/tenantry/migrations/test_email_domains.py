"""0010: addresses stored with an ASCII-encoded domain are found under its Unicode form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tenantry.models import Invite, Tenant, User
from tests.support.databases import TestDatabase, migrate

ASCII = "xn--bcher-kva.example"


def test_the_upgrade_rewrites_ascii_domains_and_keeps_a_second_account_of_one_mailbox(
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
            tenant = Tenant(id=uuid.uuid4(), slug="zoe-home", name="Zoe's home")
            session.add(tenant)
            session.flush()  # no relationship orders the invite after it
            session.add_all(
                [
                    User(email=f"zoe@{ASCII}", password_hash="!"),
                    User(email=f"ann@{ASCII}", password_hash="!"),
                    User(email="ann@bücher.example", password_hash="!"),  # signed up twice
                    User(email="bad@xn--zz.example", password_hash="!"),  # not IDNA: kept
                ]
            )
            session.add(
                Invite(
                    tenant_id=tenant.id,
                    code_hash="0" * 64,
                    role="member",
                    email=f"max@{ASCII}",
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                )
            )
        migrate(database.owner_url)
        with Session(engine) as session:
            emails = sorted(session.scalars(select(User.email)))
            invited = session.scalar(select(Invite.email))
    finally:
        engine.dispose()
    assert emails == sorted(
        [f"ann@{ASCII}", "ann@bücher.example", "bad@xn--zz.example", "zoe@bücher.example"]
    )
    assert invited == "max@bücher.example"
