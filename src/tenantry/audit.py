"""Recording audit events: every membership, role, invite and tenant change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from tenantry.mail.notices import note_membership_change
from tenantry.models import AuditEvent


def record(
    session: Session,
    action: str,
    *,
    tenant_id: uuid.UUID | None,
    actor_id: int | None,
    target: str | None = None,
    **details: Any,
) -> None:
    """Add an audit event to the session's unit of work (it commits with the change).

    Membership changes are also noted for the owners' notice mails (``tenantry.mail``).
    """
    note_membership_change(session, action, tenant_id=tenant_id, actor_id=actor_id, target=target)
    session.add(
        AuditEvent(
            tenant_id=tenant_id, actor_id=actor_id, action=action, target=target, details=details
        )
    )
