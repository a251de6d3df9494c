"""Settings of the web layer, passed in by the host application."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tenantry.mail.notices import MailLinks
from tenantry.web.login_throttle import LoginPolicy


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
    login_policy: LoginPolicy = field(default_factory=LoginPolicy)  # per-account throttle
    access_cookie: str | None = None
    # Mails: links point at ``public_url`` (never at the request's Host header: a forged
    # Host would otherwise send a reset link to another site), paths from ``links``.
    site_name: str = "tenantry"
    public_url: str = "http://127.0.0.1:8000"
    links: MailLinks = field(default_factory=MailLinks)
    verify_ttl: timedelta = timedelta(hours=48)
    reset_ttl: timedelta = timedelta(hours=1)
