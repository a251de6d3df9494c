"""The converted electricity database is meterbook's: the library runs on it as it is.

``test_server.py`` does the same over HTTP; this one drives the library directly and
also writes a new reading.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import select

from meterbook.models import Reading, Voucher
from tenantry.context import TenantContext, tenant_scope
from tenantry.db import Database
from tenantry.ids import TenantId, UserId
from tenantry.migrate import conversion_engine
from tenantry.migrate.samples import PASSWORD
from tenantry.migrations.runner import upgrade
from tenantry.models import Membership, User, normalize_email
from tenantry.roles import Role
from tenantry.scoping import unscoped
from tests.migrate.test_apply import convert

METERBOOK_VERSIONS = Path(__file__).resolve().parents[2] / "src/meterbook/migrations/versions"


def test_migrated_user_signs_in_and_sees_exactly_their_data(
    sqlite_sample: Callable[..., str], tmp_path: Path
) -> None:
    url = sqlite_sample("electricity")
    engine = conversion_engine(url)
    with engine.connect() as conn:
        legacy = {
            uid: (readings, vouchers)
            for uid, readings, vouchers in conn.exec_driver_sql(
                "SELECT u.id, (SELECT count(*) FROM readings r WHERE r.user_id = u.id), "
                "(SELECT count(*) FROM vouchers v WHERE v.user_id = u.id) FROM users u"
            )
        }
    convert(engine, "electricity", tmp_path / "backup.sqlite")
    engine.dispose()

    db = Database(url)
    upgrade(db.engine, [METERBOOK_VERSIONS])  # adopts readings and vouchers as they are
    with db.session() as session, unscoped(session, reason="test: find the migrated user"):
        user = session.scalars(
            select(User).where(User.email == normalize_email(" Bongani.1@Example.com"))
        ).one()
        assert PasswordHasher().verify(user.password_hash, PASSWORD)  # the old password works
        membership = session.scalars(select(Membership).where(Membership.user_id == user.id)).one()
    assert membership.role == Role.OWNER
    ctx = TenantContext(TenantId(membership.tenant_id), UserId(user.id), Role.OWNER)
    with tenant_scope(ctx), db.session() as session:
        readings = session.scalars(select(Reading)).all()
        vouchers = session.scalars(select(Voucher)).all()
        assert (len(readings), len(vouchers)) == legacy[user.id]
        assert {r.created_by for r in readings} == {user.id}
        assert readings[0].read_at.tzinfo is not None  # legacy text timestamps read as UTC
        session.add(
            Reading(
                read_at=readings[-1].read_at, meter_wh=readings[-1].meter_wh + 5, created_by=user.id
            )
        )  # and the app can write new rows
    db.dispose()
