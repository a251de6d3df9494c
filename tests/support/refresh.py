"""Refresh tokens seen from later on: past the grace of a second use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import update

from tenantry.models import RefreshToken


def age_spent_refresh_tokens(app: FastAPI) -> None:
    """Every spent refresh token was spent a minute ago: past ``REUSE_GRACE``."""
    with app.state.tenancy.db.session() as session:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.used_at.is_not(None))
            .values(used_at=datetime.now(UTC) - timedelta(minutes=1))
        )
