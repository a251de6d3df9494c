"""Server settings from the environment (``TENANTRY_*`` and ``DATABASE_URL``)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from tenantry.billing import BillingConfig

_WEAK = {"", "changeme", "secret", "change-me"}


def settings_problem(exc: ValidationError) -> str:
    """The first problem of ``exc`` (from :class:`Settings`), naming its variable."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    # pydantic names an aliased field by its variable (REDIS_URL), the others by field name
    name = field if field.isupper() else f"TENANTRY_{field.upper()}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}" if field else message


class Settings(BaseSettings):
    """Everything configurable about a server. Built once in the entry point, passed in."""

    model_config = SettingsConfigDict(env_prefix="TENANTRY_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/tenantry.sqlite3", validation_alias="DATABASE_URL"
    )
    # Migrations run as the owner role on PostgreSQL; the app connects as a lesser role.
    migration_database_url: str | None = Field(
        default=None, validation_alias="MIGRATION_DATABASE_URL"
    )
    # PostgreSQL: the runtime role in DATABASE_URL, granted its privileges after migrating.
    app_role: str | None = None
    data_dir: Path = Path("var")
    secret_key: str | None = None
    base_domain: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    rate_limit_storage: str = "memory://"
    join_rate: str = "10/minute"
    # Households an account may own (TenancyConfig.max_owned_tenants).
    max_owned_tenants: int = Field(default=20, ge=1)
    # A TOML plan catalogue replacing the plugins' (docs/plans.md); checked at start-up.
    plans_file: Path | None = None
    # Tenant placement: database servers and policy (docs/placement.md); unset: all shared.
    placements_file: Path | None = Field(default=None, validation_alias="TENANTRY_PLACEMENTS")
    usage_flush_seconds: float = Field(default=10.0, gt=0)
    # Limits, cache and jobs shared by every process (unset: this process only).
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # The tenant cache (TenancyConfig.cache_url). Unset: Redis when REDIS_URL is set, else
    # data_dir/cache on disk, which every worker process of this machine shares.
    cache_url: str | None = None
    rate_limit_fail_open: bool = True
    tenant_rate: str = "1200/minute"
    request_budgets: bool = True
    user_rate: str = "600/minute"
    # Consume queued jobs in the server process too (with Redis; else jobs always run here).
    worker_in_process: bool = True
    secure_cookies: bool = False
    # Mail: SMTP when set (smtp://user:pass@host:587?starttls=true, smtps://host:465),
    # else .eml files in data_dir/outbox. Links in mails point at public_url.
    smtp_url: str | None = None
    mail_from: str = "meterbook <no-reply@localhost>"
    site_name: str = "meterbook"
    public_url: str | None = None  # default: http://{host}:{port}
    # Requests of one tenant served at once per process; its others wait (TenancyConfig).
    tenant_concurrency: int = Field(default=4, ge=1)
    # Requests a process runs before a tenant's second and later ones wait (TenancyConfig:
    # the process's fair share).
    process_concurrency: int = Field(default=1, ge=1)
    # The file through which workers share that fair share; `serve --workers N` makes one.
    worker_board: Path | None = None
    # A deleted tenant stays restorable this long; `tenantry tenants purge` removes it after.
    deletion_grace_days: int = Field(default=30, ge=0, le=3650)
    purge_every_seconds: int = Field(default=3600, ge=60)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Operations (docs/operations.md): the /metrics token, tenant labels, activity counts.
    metrics_token: str | None = None
    metrics_tenant_limit: int = Field(default=50, ge=0)
    metrics_tenants: str = ""
    activity_flush_seconds: float = Field(default=10.0, gt=0)
    # Billing (docs/billing.md): off unless a Stripe key is set.
    stripe_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_API_KEY", "TENANTRY_STRIPE_API_KEY")
    )
    stripe_webhook_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "TENANTRY_STRIPE_WEBHOOK_SECRET"),
    )
    stripe_api_base: str | None = None  # a local Stripe for tests; unset: Stripe's own
    stripe_prices: str = ""  # which price sells which plan: "household=price_…,pro=price_…"
    billing_trial_plan: str | None = None  # unset: the first priced plan with trial days
    billing_grace_days: int = Field(default=7, ge=0, le=90)
    billing_sweep_seconds: float = Field(default=60.0, gt=0)

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak(cls, value: str | None) -> str | None:
        if value is not None and (value.strip().lower() in _WEAK or len(value) < 32):
            raise ValueError("must be a random string of 32+ characters")
        return value

    @model_validator(mode="after")
    def _billing_complete(self) -> Settings:
        if self.stripe_api_key:
            if not self.stripe_webhook_secret:
                raise ValueError("STRIPE_API_KEY is set: set STRIPE_WEBHOOK_SECRET too")
            self.billing_config()  # a malformed price list fails here, naming the entry
        return self

    def billing_config(self) -> BillingConfig | None:
        """Billing's settings, or ``None`` (billing off) when no Stripe key is set."""
        if not self.stripe_api_key:
            return None
        from tenantry.billing import BillingConfig, parse_prices

        return BillingConfig(
            api_key=self.stripe_api_key,
            webhook_secret=self.stripe_webhook_secret or "",
            prices=parse_prices(self.stripe_prices),
            trial_plan=self.billing_trial_plan,
            grace=timedelta(days=self.billing_grace_days),
            api_base=self.stripe_api_base,
            sweep_seconds=self.billing_sweep_seconds,
        )

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def site_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("join_rate", "tenant_rate", "user_rate")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '600/minute'") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _a_redis_url(cls, value: str | None) -> str | None:
        if value:
            from tenantry.redis_url import check_redis_url

            check_redis_url(value)
        return value or None

    @field_validator("rate_limit_storage")
    @classmethod
    def _a_rate_limit_storage(cls, value: str) -> str:
        from tenantry.web.ratelimit import check_storage_url

        check_storage_url(value)
        return value

    @field_validator("cache_url")
    @classmethod
    def _readable_cache_url(cls, value: str | None) -> str | None:
        if value:
            from tenantry.cache import check_cache_url

            check_cache_url(value)
        return value

    def cache_location(self) -> str | None:
        """TENANTRY_CACHE_URL; else ``None`` with Redis (the library then caches there);
        else a directory in data_dir that every worker process of the machine shares."""
        if self.cache_url or self.redis_url:
            return self.cache_url
        return f"file://{(self.data_dir / 'cache').resolve()}"

    @field_validator("worker_board")
    @classmethod
    def _usable_worker_board(cls, value: Path | None) -> Path | None:
        if value is not None:
            from tenantry.web.board import Board

            Board(value)  # a ValueError names what is wrong
        return value

    @field_validator("smtp_url")
    @classmethod
    def _readable_smtp_url(cls, value: str | None) -> str | None:
        if value:
            from tenantry.mail import SmtpMailer

            SmtpMailer.from_url(value)  # a ValueError names what is wrong
        return value or None

    def metrics_tenant_allow(self) -> list[str]:
        """Tenant ids that always get their own metrics label (comma-separated setting)."""
        return [t.strip() for t in self.metrics_tenants.split(",") if t.strip()]

    def metrics_bearer(self) -> str:
        """The /metrics bearer token: configured, or generated once and kept in ``data_dir``."""
        return self.metrics_token or self._kept("metrics.token")

    def signing_key(self) -> str:
        """The configured key, or one generated on first run and kept in ``data_dir``."""
        if self.secret_key:
            return self.secret_key
        return self._kept("secret.key")

    def _kept(self, name: str) -> str:
        """A random secret generated on first use and kept (mode 0600) in ``data_dir``."""
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key
