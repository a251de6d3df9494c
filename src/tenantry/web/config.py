"""Settings of the web layer, passed in by the host application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from tenantry.mail.notices import MailLinks
from tenantry.models import TenantKind
from tenantry.web.login_throttle import LoginPolicy

# Where mails link without ``public_url``: uvicorn's default address (a warning says so).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def name_after_person(display_name: str) -> str:
    """The library's default name of a tenant created at sign-up: the person's name."""
    return display_name


@dataclass(frozen=True, slots=True)
class TenancyConfig:
    """Everything the tenancy web layer needs to know; no global settings.

    ``base_domain`` enables subdomain resolution (``acme.example.com`` with base
    ``example.com``). ``tenant_concurrency`` caps how many requests of one tenant
    a process serves at once, and how many of one user's, whatever tenants they
    name; the rest of that tenant's (or user's) requests wait, no one else's do.
    ``process_concurrency`` is a process's fair share: a tenant's first request
    always runs, its others only while fewer requests than that run in all, or
    after 0.5 s without a start of that tenant (``tenantry.web.slots``; ``None``:
    only the per-tenant cap). A tenant alone on PostgreSQL's async path runs up to
    its cap. ``worker_board`` carries the share across a server's worker processes.
    Rate limits use the ``limits`` notation ("10/minute"); ``rate_limits=False``
    switches them off, for test suites only (the shipped pytest plugin's
    ``tenantry_config`` does that, so a test may sign up many people).

    ``tenant_header`` names the header that selects a tenant (a CRM may say
    ``X-Org-ID``). Signing up without an invite or a tenant name creates a tenant
    of ``default_tenant_kind`` named ``default_tenant_name(display_name)``: the
    host's words (meterbook says "Alice's household"), not the library's.
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
    # Where the tenant cache lives: memory:// (this process), file://<directory> (the
    # processes of one machine), redis://… (None: redis_url when set, else memory://).
    # Several processes on memory:// serve each other's stale entries until their TTL.
    cache_url: str | None = None
    # Requests per tenant (unless its plan names ``requests_per_minute``) and per user.
    tenant_rate: str = "1200/minute"
    user_rate: str = "600/minute"
    # False: no per-tenant/per-user request budgets (sign-in throttles still apply).
    request_budgets: bool = True
    # A Redis outage lets requests through (logged) unless this is False (then 503).
    rate_limit_fail_open: bool = True
    # Where jobs (mails included) wait while Redis is unreachable, for a retry, or, without
    # Redis, to run in this process (None: ./var/spool).
    jobs_spool_dir: Path | None = None
    # Where mails go as .eml files when the host gives Tenancy no postman (None: ./var/outbox).
    outbox_dir: Path | None = None
    # With Redis, this process runs queued jobs too (False: only ``tenantry worker`` does).
    worker_in_process: bool = True
    login_rate: str = "10/minute"
    register_rate: str = "5/minute"
    join_rate: str = "10/minute"
    # Mails anyone can make tenantry send to one address (reset links, "you already have an
    # account"), from every client together: the per-client rates above let many clients
    # fill a person's mailbox. Past it the request is answered the same and no mail leaves.
    mail_to_address_rate: str = "5/hour"
    # Tenants an account may own (not deleted) when it creates one (None: no bound). Each
    # brings its plan's quotas afresh: without a bound, quotas are a loop away.
    max_owned_tenants: int | None = 20
    rate_limits: bool = True
    access_cookie: str | None = None
    tenant_concurrency: int = 4
    process_concurrency: int | None = 1
    # A file the worker processes of one server share (on /dev/shm, say), so that the
    # fair share holds across them (tenantry.web.board); None: each process on its own.
    worker_board: str | Path | None = None
    tenant_header: str = "X-Tenant-ID"
    default_tenant_name: Callable[[str], str] = name_after_person
    default_tenant_kind: TenantKind = TenantKind.PERSONAL
    # How long a deleted tenant stays restorable before a purge removes it.
    deletion_grace: timedelta = timedelta(days=30)
    # Seconds between purges of the tenants past their grace, a platform job queued by the
    # workers (tenantry.jobs); ``None``: only ``tenantry tenants purge`` purges.
    purge_every: int | None = 3600
    # Usage metering (tenantry.plans.metering): seconds between flushes, what a crash can lose.
    usage_flush_seconds: float = 10.0
    metering: bool = True
    # Paths only platform admins reach; everyone else gets a missing route's 404.
    platform_paths: tuple[str, ...] = ("/api/admin",)
    login_policy: LoginPolicy = field(default_factory=LoginPolicy)  # per-account throttle
    # Mails: links point at ``public_url`` (never at the request's Host header: a forged
    # Host would otherwise send a reset link to another site), paths from ``links``.
    site_name: str = "tenantry"
    public_url: str | None = None  # None: DEFAULT_PUBLIC_URL, with a warning for real mail
    links: MailLinks = field(default_factory=MailLinks)
    verify_ttl: timedelta = timedelta(hours=48)
    reset_ttl: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        """Values a plain string may stand for are taken as such (``"business"`` for
        ``TenantKind.BUSINESS``), and a wrong one is refused here, at start-up, not by a
        500 at the first sign-up."""
        try:
            kind = TenantKind(self.default_tenant_kind)
        except ValueError:
            known = ", ".join(k.value for k in TenantKind)
            raise ValueError(
                f"default_tenant_kind {self.default_tenant_kind!r} is not one of {known}"
            ) from None
        object.__setattr__(self, "default_tenant_kind", kind)
        # Counts: 0 would refuse every body (413) or run no request at all, 2.5 would cap at
        # 3, and "4" or True would fail later naming nothing of the host's.
        _count("max_owned_tenants", self.max_owned_tenants, none="no bound")
        _count("max_body_bytes", self.max_body_bytes)
        _count("tenant_concurrency", self.tenant_concurrency)
        _count("process_concurrency", self.process_concurrency, none="only the tenant cap")
        _count("purge_every", self.purge_every, none="only `tenantry tenants purge` purges")


def _count(name: str, value: object, *, none: str | None = None) -> None:
    """Refuse ``value`` unless it is a whole number (an ``int``, not a ``bool``) of at least
    1, or ``None`` where ``none`` says what that means."""
    if value is None and none is not None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        said = f" (None: {none})" if none else ""
        raise ValueError(f"{name} is a whole number, at least 1{said}; got {value!r}")
