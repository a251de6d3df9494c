"""Settings of the web layer, passed in by the host application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tenantry.context import TenantContext


@dataclass(frozen=True, slots=True)
class TenancyConfig:
    """Everything the tenancy web layer needs to know; no global settings.

    ``base_domain`` enables subdomain resolution (``acme.example.com`` with base
    ``example.com``). Rate limits use the ``limits`` notation ("10/minute").
    """

    secret_key: str
    issuer: str = "tenantry"
    audience: str = "tenantry-api"
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    base_domain: str | None = None
    max_body_bytes: int = 1_048_576
    rate_limit_storage: str = "memory://"
    # Shared state for several processes: limits, cache and jobs (None: this process only).
    redis_url: str | None = None
    # Requests per tenant and per signed-in user; ``tenant_rate_for`` (the plans'
    # requests-per-minute, say) overrides ``tenant_rate`` per tenant when it returns a rate.
    tenant_rate: str = "1200/minute"
    user_rate: str = "600/minute"
    tenant_rate_for: Callable[[TenantContext], str | None] | None = None
    # A Redis outage lets requests through (logged) unless this is False (then 503).
    rate_limit_fail_open: bool = True
    # Where jobs wait while Redis is unreachable.
    jobs_spool_dir: Path | None = None
    login_rate: str = "10/minute"
    register_rate: str = "5/minute"
    join_rate: str = "10/minute"
    access_cookie: str | None = None
