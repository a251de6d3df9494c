"""accounts: addresses with an ASCII-encoded domain stored in its Unicode form

An internationalised domain has two spellings (``bücher.example`` and
``xn--bcher-kva.example``); ``normalize_email`` now keeps the Unicode one, so an
account or invite stored under the ASCII spelling is rewritten to be found again.

The same mailbox signed up twice (once in each spelling) made two accounts. The one
its owner confirmed keeps the address (the Unicode spelling's when both or neither
were), and takes the other's memberships when that one was confirmed too (the higher
role where both are members), so whoever reads the mailbox reaches every household of
both. The other becomes a placeholder that cannot sign in, as after an erasure: its id
stays on the rows that name it. An unconfirmed account gives nothing to the other:
anyone could have signed up with the address.

Revision ID: 0010_unicode_email_domains
Revises: 0009_billing_superseded
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import idna
import sqlalchemy as sa
from alembic import op

revision: str = "0010_unicode_email_domains"
down_revision: str | None = "0009_billing_superseded"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _unicode(email: str) -> str:
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    try:
        return f"{local}@{idna.decode(domain)}"
    except (idna.IDNAError, UnicodeError):
        return email


# Roles from least to most: a merged membership keeps the higher of the two.
_RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


def _placeholder(conn: sa.Connection, user_id: int) -> None:
    """The account can no longer sign in (as after an erasure): its id stays for the rows
    that name it, its sessions and reset links end."""
    conn.execute(
        sa.text(
            "UPDATE tenantry_users SET email = :e, password_hash = '!', "
            "session_version = session_version + 1 WHERE id = :id"
        ),
        {"e": f"merged-{user_id}-{secrets.token_hex(8)}@erased.invalid", "id": user_id},
    )
    conn.execute(
        sa.text("UPDATE tenantry_refresh_tokens SET revoked_at = :now WHERE user_id = :id"),
        {"now": datetime.now(UTC), "id": user_id},
    )
    conn.execute(
        sa.text("DELETE FROM tenantry_password_resets WHERE user_id = :id"), {"id": user_id}
    )


def _merge(conn: sa.Connection, loser: int, survivor: int) -> None:
    """Give ``survivor`` the memberships of ``loser`` (the higher role where both are
    members) and its platform-admin flag."""
    memberships = conn.execute(
        sa.text("SELECT tenant_id, role FROM tenantry_memberships WHERE user_id = :u"),
        {"u": loser},
    ).all()
    for tenant_id, role in memberships:
        held = conn.execute(
            sa.text("SELECT role FROM tenantry_memberships WHERE tenant_id = :t AND user_id = :u"),
            {"t": tenant_id, "u": survivor},
        ).scalar()
        if held is None:
            conn.execute(
                sa.text(
                    "UPDATE tenantry_memberships SET user_id = :s "
                    "WHERE tenant_id = :t AND user_id = :u"
                ),
                {"s": survivor, "t": tenant_id, "u": loser},
            )
            continue
        if _RANK.get(role, 0) > _RANK.get(held, 0):
            conn.execute(
                sa.text(
                    "UPDATE tenantry_memberships SET role = :r "
                    "WHERE tenant_id = :t AND user_id = :s"
                ),
                {"r": role, "t": tenant_id, "s": survivor},
            )
        conn.execute(
            sa.text("DELETE FROM tenantry_memberships WHERE tenant_id = :t AND user_id = :u"),
            {"t": tenant_id, "u": loser},
        )
    conn.execute(
        sa.text(
            "UPDATE tenantry_users SET is_platform_admin = :yes WHERE id = :s AND "
            "EXISTS (SELECT 1 FROM tenantry_users WHERE id = :u AND is_platform_admin = :yes)"
        ),
        {"s": survivor, "u": loser, "yes": True},
    )


def upgrade() -> None:
    conn = op.get_bind()
    users = conn.execute(
        sa.text("SELECT id, email, email_verified_at FROM tenantry_users WHERE email LIKE '%xn--%'")
    ).all()
    for user_id, email, verified in users:
        wanted = _unicode(email)
        if wanted == email:
            continue
        other = conn.execute(
            sa.text("SELECT id, email_verified_at FROM tenantry_users WHERE email = :e"),
            {"e": wanted},
        ).first()
        if other is not None:
            # One mailbox, two accounts: the one its owner confirmed keeps the address
            # (the Unicode spelling's on a tie) and takes the other's households when
            # that one was confirmed too. An unconfirmed account gives nothing: anyone
            # could have signed up with the address.
            ours_wins = verified is not None and other.email_verified_at is None
            (survivor, loser), loser_verified = (
                ((user_id, other.id), other.email_verified_at)
                if ours_wins
                else ((other.id, user_id), verified)
            )
            if loser_verified is not None:
                _merge(conn, loser, survivor)
            _placeholder(conn, loser)
            if not ours_wins:
                continue
        conn.execute(
            sa.text("UPDATE tenantry_users SET email = :e WHERE id = :id"),
            {"e": wanted, "id": user_id},
        )
    invites = conn.execute(
        sa.text("SELECT id, email FROM tenantry_invites WHERE email LIKE '%xn--%'")
    ).all()
    for invite_id, email in invites:
        if (wanted := _unicode(email)) != email:
            conn.execute(
                sa.text("UPDATE tenantry_invites SET email = :e WHERE id = :id"),
                {"e": wanted, "id": invite_id},
            )


def downgrade() -> None:
    """Nothing to undo: the Unicode spelling is the same address to every version."""
