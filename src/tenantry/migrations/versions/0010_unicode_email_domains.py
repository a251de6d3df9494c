"""accounts: addresses with an ASCII-encoded domain stored in its Unicode form

An internationalised domain has two spellings (``bücher.example`` and
``xn--bcher-kva.example``); ``normalize_email`` now keeps the Unicode one, so an
account or invite stored under the ASCII spelling is rewritten to be found again.
An account whose Unicode spelling another account already holds (the same mailbox
signed up twice) keeps its address: no row is merged or lost.

Revision ID: 0010_unicode_email_domains
Revises: 0009_billing_superseded
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

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


def upgrade() -> None:
    conn = op.get_bind()
    users = conn.execute(
        sa.text("SELECT id, email FROM tenantry_users WHERE email LIKE '%xn--%'")
    ).all()
    for user_id, email in users:
        wanted = _unicode(email)
        taken = conn.execute(
            sa.text("SELECT 1 FROM tenantry_users WHERE email = :e"), {"e": wanted}
        ).first()
        if wanted != email and taken is None:
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
