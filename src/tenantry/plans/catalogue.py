"""The plan catalogue: what each plan allows, declared by the host and validated at start-up."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

MEMBERS = "members"
REQUESTS_PER_MONTH = "requests_per_month"
# The tenant's request rate limit (tenantry.web.ratelimit); absent: the host's default.
REQUESTS_PER_MINUTE = "requests_per_minute"
EXPORT_BYTES_PER_MONTH = "export_bytes_per_month"
STORAGE_BYTES = "storage_bytes"
ROWS_PREFIX = "rows."
FEATURE_PREFIX = "feature:"
UNLIMITED = "unlimited"
MAX_LIMIT = 2**62  # a count the databases' BIGINT holds with room to add to
NO_REQUESTS = "requests_per_minute: at least 1 (a tenant allowed no requests is suspended instead)"

_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
_KEY = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$"


def rows_limit(table: str) -> str:
    """The limit name of a row quota on ``table`` (``rows.readings``)."""
    return f"{ROWS_PREFIX}{table}"


class CatalogueError(ValueError):
    """A plan catalogue that cannot be used; the message names the file and the field."""


class Plan(BaseModel):
    """One plan: its limits (absent or ``None`` = unlimited), features and trial length.

    ``limits`` holds the core's names (``members``, ``requests_per_month``,
    ``export_bytes_per_month``, ``storage_bytes``), row quotas (``rows.<table>``)
    and any number the host names itself (``history_days``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    display_name: str = ""
    # Strict: ``true`` is not 1, nor ``5.0`` 5 (as for an override).
    limits: dict[str, StrictInt | None] = Field(default_factory=dict)
    features: frozenset[str] = frozenset()
    trial_days: int = Field(default=0, ge=0, le=366)

    @field_validator("limits", mode="before")
    @classmethod
    def _unlimited(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: None if v == UNLIMITED else v for k, v in value.items()}
        return value

    @field_validator("limits")
    @classmethod
    def _check_limits(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        for key, amount in value.items():
            if not re.match(_KEY, key):
                raise ValueError(f"{key!r} is not a limit name (lower case, e.g. rows.readings)")
            if amount is not None and amount < 0:
                raise ValueError(f"{key}: a limit cannot be negative")
            if amount is not None and amount > MAX_LIMIT:
                raise ValueError(f'{key}: at most {MAX_LIMIT} (or "unlimited")')
        if value.get(MEMBERS) == 0:
            raise ValueError("members: a plan must allow at least one member (the owner)")
        if value.get(REQUESTS_PER_MINUTE) == 0:
            raise ValueError(NO_REQUESTS)
        return value

    @field_validator("features")
    @classmethod
    def _check_features(cls, value: frozenset[str]) -> frozenset[str]:
        for flag in value:
            if not re.match(r"^[a-z][a-z0-9_]{0,63}$", flag):
                raise ValueError(f"{flag!r} is not a feature name (lower case, digits, _)")
        return value

    @model_validator(mode="after")
    def _display(self) -> Plan:
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name.replace("_", " ").title())
        return self

    def limit(self, name: str) -> int | None:
        """The allowance for ``name``; ``None`` means unlimited."""
        return self.limits.get(name)


class Catalogue(BaseModel):
    """The plans a host offers, cheapest first; ``default`` is where new tenants start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plans: tuple[Plan, ...] = Field(min_length=1)
    default: str = ""

    @model_validator(mode="after")
    def _check(self) -> Catalogue:
        names = [p.name for p in self.plans]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"plan names must be unique: {', '.join(twice)}")
        if not self.default:
            object.__setattr__(self, "default", names[0])
        elif self.default not in names:
            raise ValueError(f"default: {self.default!r} is not one of the plans ({names})")
        return self

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plans]

    def find(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

    def get(self, name: str) -> Plan:
        """The plan called ``name``; a tenant on a plan the catalogue dropped gets the default."""
        return self.find(name) or self.get_default()

    def get_default(self) -> Plan:
        plan = self.find(self.default)
        assert plan is not None  # checked at construction
        return plan

    def lifting(self, limit: str, needed: int) -> Plan | None:
        """The first plan (cheapest first) that allows ``needed`` of ``limit``."""
        for plan in self.plans:
            allowed = plan.limit(limit)
            if allowed is None or allowed >= needed:
                return plan
        return None

    def with_feature(self, flag: str) -> Plan | None:
        """The first plan (cheapest first) that has ``flag``."""
        return next((p for p in self.plans if flag in p.features), None)

    @classmethod
    def of(cls, plans: Iterable[Plan | Mapping[str, Any]], *, default: str = "") -> Catalogue:
        """A catalogue from Python objects; raises :class:`CatalogueError` naming the field."""
        return load_catalogue({"plans": list(plans), "default": default}, source_name="catalogue")


def _where(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """``plans[1] (free).limits.members`` from a pydantic location."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = ""
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                raw = node.get("name") if isinstance(node, Mapping) else getattr(node, "name", "")
                name = f" ({raw})" if raw else ""
            parts[-1] = f"{parts[-1]}[{item}]{name}" if parts else f"[{item}]"
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, Mapping) else None
    return ".".join(parts)


def load_catalogue(source: Path | str | Mapping[str, Any], *, source_name: str = "") -> Catalogue:
    """Validate a catalogue from a TOML file (path) or an already parsed mapping.

    Raises:
        CatalogueError: unreadable TOML, or a field that fails validation; the
            message names the file and the field (``plans[0] (free).limits.members``).
    """
    name = source_name
    if isinstance(source, Path | str) and not isinstance(source, Mapping):
        path = Path(source)
        name = name or str(path)
        try:
            data: Mapping[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"{name}: cannot read the plan catalogue: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{name}: not valid TOML: {exc}") from exc
    else:
        data = source
        name = name or "plan catalogue"
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first.get("loc", ())), data)
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise CatalogueError(f"{name}: {where or 'catalogue'}: {message}") from exc


# The library's defaults, for a host that declares no plans of its own.
DEFAULT_CATALOGUE = Catalogue(
    plans=(
        Plan(
            name="free",
            display_name="Free",
            limits={
                MEMBERS: 5,
                REQUESTS_PER_MONTH: 100_000,
                EXPORT_BYTES_PER_MONTH: 1_000_000_000,
                STORAGE_BYTES: 100_000_000,
            },
        ),
        Plan(
            name="pro",
            display_name="Pro",
            limits={
                MEMBERS: 50,
                REQUESTS_PER_MONTH: 5_000_000,
                STORAGE_BYTES: 10_000_000_000,
            },
            features=frozenset({"priority_support"}),
            trial_days=14,
        ),
        Plan(name="enterprise", display_name="Enterprise"),
    ),
    default="free",
)
