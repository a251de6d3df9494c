"""Server settings from the environment (``TENANTRY_*`` and ``DATABASE_URL``)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_WEAK = {"", "changeme", "secret", "change-me"}


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
    max_body_bytes: int = 1_048_576
    rate_limit_storage: str = "memory://"
    secure_cookies: bool = False
    # Requests of one tenant served at once per process; its others wait (TenancyConfig).
    tenant_concurrency: int = Field(default=4, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak(cls, value: str | None) -> str | None:
        if value is not None and (value.strip().lower() in _WEAK or len(value) < 32):
            raise ValueError("TENANTRY_SECRET_KEY must be a random string of 32+ characters")
        return value

    def signing_key(self) -> str:
        """The configured key, or one generated on first run and kept in ``data_dir``."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key
