"""How far back a household's insights may look: all of it with long-range insights."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy.orm import Session

from meterbook.plans import HISTORY_DAYS, LONG_RANGE_INSIGHTS
from meterbook.services.common import utcnow
from tenantry.plans import load_entitlements, require_feature


def history_floor(session: Session, tenant_id: uuid.UUID) -> date | None:
    """The earliest day the plan's insights cover, or ``None`` for all history."""
    ents = load_entitlements(session, tenant_id)
    days = ents.limit(HISTORY_DAYS)
    if ents.has(LONG_RANGE_INSIGHTS) or days is None:
        return None
    return utcnow().date() - timedelta(days=days)


def check_range(session: Session, tenant_id: uuid.UUID, start: date | None) -> None:
    """Refuse (``FeatureNotInPlan``) a period starting before the plan's history floor."""
    floor = history_floor(session, tenant_id)
    if floor is not None and start is not None and start < floor:
        require_feature(session, tenant_id, LONG_RANGE_INSIGHTS)
