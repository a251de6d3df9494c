"""A tenant keeps an owner when two owners change at once: each change of owners locks the
tenant row before it counts them (PostgreSQL; SQLite's writers take turns already)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenantry import privacy, tenants
from tenantry.errors import Conflict
from tenantry.models import Membership, Tenant
from tenantry.roles import Role
from tenantry.testing import PASSWORD, Member, invite_and_join
from tests.conftest import only_postgresql

Change = Callable[[Session, uuid.UUID, int, int], None]


def _leave(s: Session, tenant: uuid.UUID, me: int, _other: int) -> None:
    tenants.leave(s, tenant_id=tenant, user_id=me)


def _demote_myself(s: Session, tenant: uuid.UUID, me: int, _other: int) -> None:
    tenants.change_role(
        s, tenant_id=tenant, actor=Role.OWNER, actor_id=me, user_id=me, role=Role.ADMIN
    )


def _remove_the_other(s: Session, tenant: uuid.UUID, me: int, other: int) -> None:
    tenants.remove_member(s, tenant_id=tenant, actor=Role.OWNER, actor_id=me, user_id=other)


def _hand_over_to_the_other(s: Session, tenant: uuid.UUID, me: int, other: int) -> None:
    tenants.transfer_ownership(s, tenant_id=tenant, owner_id=me, new_owner_id=other)


@only_postgresql
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_leave, _leave),
        (_demote_myself, _demote_myself),
        (_remove_the_other, _remove_the_other),
        (_leave, _demote_myself),
        (_hand_over_to_the_other, _leave),
    ],
)
def test_two_owners_changing_at_once_leave_an_owner(
    app: FastAPI, client: TestClient, alice: Member, first: Change, second: Change
) -> None:
    bob = invite_and_join(client, alice, role=Role.OWNER)
    tenant = uuid.UUID(alice.tenant_id)
    db = app.state.tenancy.db
    outcome: dict[str, str] = {}

    def bobs_turn() -> None:
        try:
            with db.session() as s:
                second(s, tenant, bob.user_id, alice.user_id)
            outcome["bob"] = "done"
        except Conflict:
            outcome["bob"] = "refused"

    with db.session() as s:  # Alice's change, not committed yet
        first(s, tenant, alice.user_id, bob.user_id)
        racer = threading.Thread(target=bobs_turn)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "Bob's change did not wait for Alice's"
    racer.join(30)
    with db.session() as s:
        owners = s.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant, Membership.role == Role.OWNER.value)
        )
    assert owners and owners >= 1, outcome


@only_postgresql
def test_two_owners_erasing_their_accounts_at_once_leave_an_owner(
    app: FastAPI, client: TestClient, alice: Member
) -> None:
    tenant = uuid.UUID(alice.tenant_id)
    tenancy = app.state.tenancy
    with tenancy.db.session() as s:
        s.get_one(Tenant, tenant).plan = "household"  # room for a third member
    bob = invite_and_join(client, alice, role=Role.OWNER)
    invite_and_join(client, alice, role=Role.MEMBER)  # the household is still used
    outcome: dict[str, str] = {}

    def bobs_turn() -> None:
        try:
            with tenancy.db.session() as s:
                privacy.erase_user(s, tenancy.passwords, user_id=bob.user_id, password=PASSWORD)
            outcome["bob"] = "erased"
        except Conflict:
            outcome["bob"] = "refused"

    with tenancy.db.session() as s:
        privacy.erase_user(s, tenancy.passwords, user_id=alice.user_id, password=PASSWORD)
        racer = threading.Thread(target=bobs_turn)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "Bob's erasure did not wait for Alice's"
    racer.join(30)
    assert outcome == {"bob": "refused"}
    with tenancy.db.session() as s:
        owners = s.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant, Membership.role == Role.OWNER.value)
        )
    assert owners == 1
