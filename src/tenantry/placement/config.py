"""Placement configuration: the named database servers and the policy for new tenants.

Read from a TOML file (``TENANTRY_PLACEMENTS``)::

    default = "shared"                 # where new tenants go unless their plan says otherwise
    [plans]
    pro = "dedicated"                  # a plan's tenants get a database of their own

    [servers.files]                    # dedicated SQLite tenants: one file each in a directory
    url = "sqlite:///var/tenants"

    [servers.pg-a]                     # dedicated PostgreSQL tenants: one database each
    url = "postgresql+psycopg://tenantry_app@db-a/"           # the runtime role (RLS applies)
    migration_url = "postgresql+psycopg://tenantry_owner@db-a/"  # owns and migrates the database
    admin_url = "postgresql+psycopg://postgres@db-a/postgres"    # may CREATE/DROP DATABASE
    owner = "tenantry_owner"
    app_role = "tenantry_app"

A dedicated tenant goes to the least-loaded server (fewest placements), first
in file order on a tie.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tenantry.errors import TenantryError
from tenantry.models.placement import PlacementKind


class PlacementConfigError(TenantryError):
    """The placement configuration is unreadable or names something unknown."""

    code = "placement_config"
    status = 500


@lru_cache(maxsize=4096)
def parsed_url(url: str | URL) -> URL:
    """``make_url``, remembered (a URL is immutable): a request for a dedicated tenant asks
    for its server's and its database's URL parts several times, and parsing them each
    time was ~0.1 ms of the request."""
    return make_url(url)


@dataclass(frozen=True, slots=True)
class Server:
    """A place for dedicated databases: a directory of SQLite files or a PostgreSQL server."""

    name: str
    url: str
    migration_url: str | None = None
    admin_url: str | None = None
    owner: str | None = None
    app_role: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return parsed_url(self.url).get_backend_name() == "sqlite"

    @property
    def directory(self) -> Path:
        """The directory of a SQLite server's files."""
        return Path(parsed_url(self.url).database or ".")

    def database_url(self, database: str, *, role: str = "runtime") -> str:
        """The URL of ``database`` on this server, as the runtime role or the ``migration`` one.

        SQLite: the file ``<directory>/<database>.sqlite3``.
        """
        if self.is_sqlite:
            return f"sqlite:///{self.directory / (database + '.sqlite3')}"
        base = self.migration_url if role == "migration" and self.migration_url else self.url
        url: URL = parsed_url(base).set(database=database)
        return url.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class PlacementConfig:
    """The servers, the policy, and the bounds of the engine cache."""

    servers: dict[str, Server] = field(default_factory=dict)
    default: str = PlacementKind.SHARED.value
    plans: dict[str, str] = field(default_factory=dict)
    # Engines kept open at once, and how long an unused one stays (seconds).
    max_engines: int = 64
    idle_seconds: float = 300.0
    # Connections per dedicated engine (a pool each: keep it small, there are many).
    pool_size: int = 2

    def server(self, name: str) -> Server:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(sorted(self.servers)) or "none configured"
            raise PlacementConfigError(f"no placement server {name!r} ({known})") from None


def _kind(value: Any, where: str) -> str:
    if value not in (PlacementKind.SHARED.value, PlacementKind.DEDICATED.value):
        raise PlacementConfigError(f"{where}: {value!r} is not 'shared' or 'dedicated'")
    return str(value)


_KEYS = {"default", "max_engines", "idle_seconds", "pool_size", "plans", "servers"}


def _anchored(url: str, base: Path | None) -> str:
    """A SQLite server's relative directory, made absolute from ``base`` (the placements
    file's directory): the server and every CLI command, wherever they run, must find the
    same files. Resolved from each one's working directory, a move run elsewhere read an
    empty database in its place and switched the tenant to it."""
    parsed = make_url(url)
    if base is None or parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    directory = Path(parsed.database)
    if directory.is_absolute():
        return url
    return parsed.set(database=str(base / directory)).render_as_string(hide_password=False)


def parse_config(data: dict[str, Any], base: Path | None = None) -> PlacementConfig:
    """A :class:`PlacementConfig` from parsed TOML; every mistake named in the message.

    ``base``: the directory relative SQLite server paths are relative to."""
    unknown_keys = set(data) - _KEYS
    if unknown_keys:  # a misspelt key would silently leave its setting at the default
        raise PlacementConfigError(
            f"unknown key(s) {sorted(unknown_keys)}; the file takes {sorted(_KEYS)}"
        )
    servers: dict[str, Server] = {}
    raw_servers = data.get("servers", {})
    if not isinstance(raw_servers, dict):
        raise PlacementConfigError("[servers] must be a table of named servers")
    for name, raw in raw_servers.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
            raise PlacementConfigError(f"server {name!r} needs a url")
        unknown = set(raw) - {"url", "migration_url", "admin_url", "owner", "app_role"}
        if unknown:
            raise PlacementConfigError(f"server {name!r}: unknown key(s) {sorted(unknown)}")
        try:
            backend = make_url(raw["url"]).get_backend_name()
        except ArgumentError as exc:
            raise PlacementConfigError(f"server {name!r}: bad url ({exc})") from None
        if backend not in ("sqlite", "postgresql"):
            raise PlacementConfigError(f"server {name!r}: only sqlite and postgresql are served")
        servers[name] = Server(name=name, **{**raw, "url": _anchored(raw["url"], base)})
    plans = data.get("plans", {})
    if not isinstance(plans, dict):
        raise PlacementConfigError("[plans] must map plan names to 'shared' or 'dedicated'")
    config = PlacementConfig(
        servers=servers,
        default=_kind(data.get("default", PlacementKind.SHARED.value), "default"),
        plans={str(k): _kind(v, f"plans.{k}") for k, v in plans.items()},
        max_engines=int(data.get("max_engines", 64)),
        idle_seconds=float(data.get("idle_seconds", 300.0)),
        pool_size=int(data.get("pool_size", 2)),
    )
    if config.max_engines < 1:
        raise PlacementConfigError("max_engines must be at least 1")
    wants_dedicated = config.default == "dedicated" or "dedicated" in config.plans.values()
    if wants_dedicated and not servers:
        raise PlacementConfigError("the policy gives tenants a dedicated database: add a server")
    return config


def load_config(path: Path) -> PlacementConfig:
    """Read the TOML file at ``path``.

    Raises:
        PlacementConfigError: missing, not TOML, or invalid (the message says which).
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise PlacementConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlacementConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, path.resolve().parent)
