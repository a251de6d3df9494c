"""Adopting a table that already exists, only when its columns are the ones the app expects.

A converted database (``tenantry tenantize``) may already hold an app's tables; a
migration adopts such a table instead of creating it, but a table of the same name
with other columns is someone else's data: adopting it would leave the app failing
on every query, so the migration stops and names the differing columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op

from tenantry.errors import TenantryError
from tenantry.inspection import column_difference


class SchemaMismatch(TenantryError):
    """A table the migration would adopt has other columns than the app's."""

    code = "schema_mismatch"


def adoptable(name: str, expected: Iterable[str]) -> bool:
    """Inside a migration: ``True`` to adopt ``name`` as it is, ``False`` to create it.

    Raises:
        SchemaMismatch: ``name`` exists with other columns than ``expected``.
    """
    insp = sa.inspect(op.get_bind())
    if not insp.has_table(name):
        return False
    present = [str(c["name"]) for c in insp.get_columns(name)]
    problem = column_difference(name, present, expected)
    if problem:
        raise SchemaMismatch(
            f"{problem}; it was not adopted. Convert it to the app's schema first "
            "(tenantize with a target mapping, docs/tenantize.md) or rename it."
        )
    return True
