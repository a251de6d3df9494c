"""Settings of the web layer, passed in by the host application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


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
    login_rate: str = "10/minute"
    register_rate: str = "5/minute"
    join_rate: str = "10/minute"
    access_cookie: str | None = None
    # Paths only platform admins reach; everyone else gets a missing route's 404.
    platform_paths: tuple[str, ...] = ("/api/admin",)
