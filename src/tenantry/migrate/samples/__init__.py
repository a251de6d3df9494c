"""Sample single-tenant databases of the five seed apps, awkward cases included.

Used by the tests (a few hundred rows) and the benchmarks (``size="large"``: 1M+ rows).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from tenantry.migrate.samples import cards, electricity, fencing, finance, workflows
from tenantry.migrate.samples.writer import Writer

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
APPS: dict[str, Callable[..., None]] = {
    "electricity": electricity.generate,
    "fencing": fencing.generate,
    "workflows": workflows.generate,
    "cards": cards.generate,
    "finance": finance.generate,
}
PASSWORD = electricity.PASSWORD


@dataclass(frozen=True, slots=True)
class Size:
    users: int
    per_user: int


SIZES = {
    "small": Size(12, 16),
    "medium": Size(400, 150),
    "large": Size(5_000, 220),
    "huge": Size(50_000, 220),  # ~11M owned rows: the memory bound at ten times "large"
}


def password_hash() -> str:
    """One argon2 hash of :data:`PASSWORD` (argon2's defaults: ~0.1 s, so computed once)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(PASSWORD)


def generate(
    engine: Engine, app: str, *, size: str | Size = "small", awkward: bool = True, seed: int = 7
) -> dict[str, int]:
    """Create the legacy tables of ``app`` in the empty database of ``engine`` and fill them.

    Returns the row count of each table.
    """
    shape = SIZES[size] if isinstance(size, str) else size
    with engine.begin() as conn:
        writer = Writer(conn, random.Random(seed))  # noqa: S311 - sample data, not secrets
        APPS[app](
            writer,
            users=shape.users,
            per_user=shape.per_user,
            awkward=awkward,
            password_hash=password_hash(),
        )
    return writer.counts


def example_mapping(app: str) -> Path:
    """The mapping shipped in ``examples/`` for ``app`` (a source checkout)."""
    return EXAMPLES / f"{app}.toml"
