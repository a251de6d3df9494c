"""Where one tenant's rows are: shared, or a named database on a named server."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from tenantry.errors import TenantryError
from tenantry.models.placement import PlacementKind


class TenantReadOnly(TenantryError):
    """The tenant is being moved to another database: reads work, writes wait until it is done."""

    code = "tenant_read_only"
    status = 423


class PlacementMismatch(TenantryError):
    """A session routed to one database was asked to serve another."""

    code = "placement_mismatch"
    status = 500


@dataclass(frozen=True, slots=True)
class Location:
    kind: str = PlacementKind.SHARED.value
    server: str | None = None
    database: str | None = None

    @property
    def is_shared(self) -> bool:
        return self.kind == PlacementKind.SHARED.value

    def describe(self) -> str:
        return "shared" if self.is_shared else f"dedicated {self.server}/{self.database}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "server": self.server, "database": self.database}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(data["kind"], data.get("server"), data.get("database"))


SHARED = Location()


def database_name(tenant_id: uuid.UUID) -> str:
    """The name of a tenant's own database: fixed by its id, valid on every backend."""
    return f"tenant_{tenant_id.hex}"


TENANT_DATABASE = re.compile(r"tenant_([0-9a-f]{32})")


def tenant_of_database(name: str) -> uuid.UUID | None:
    """The tenant a database is named for (:func:`database_name`), or ``None``."""
    found = TENANT_DATABASE.fullmatch(name)
    return uuid.UUID(found.group(1)) if found else None
