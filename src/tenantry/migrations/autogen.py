"""Alembic autogenerate for an app's own models on top of tenantry's tables.

An app's ``env.py`` (written by ``tenantry migrations init``) imports the app's
models and calls :func:`run_migrations`. Autogenerate then:

* compares the models on tenantry's ``Base`` with the database, leaving the
  ``tenantry_*`` tables to the core's migrations and never dropping a table the
  models do not know (another app's, or one being retired by hand);
* emits ``TenantScoped`` tables with their composite keys ``(tenant_id, id)``
  and composite references, as the models declare them;
* follows every new tenant table with ``enable_tenant_rls("table")`` (and
  precedes its drop with ``disable_tenant_rls``): PostgreSQL row-level security
  for new tables, a no-op on SQLite;
* with ``adopt`` set (``tenantry migrations revision --adopt``), writes every table
  of the models, the database's own included, as ``if not adoptable(...)`` around
  its ``create_table`` and indexes: the first revision of an app whose tables
  ``tenantize`` made runs on the converted database and on an empty one alike.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

from alembic import context
from alembic.autogenerate import render, renderers
from alembic.ddl.impl import DefaultImpl
from alembic.operations import MigrateOperation, ops
from sqlalchemy import Column, create_engine

from tenantry.models import Base
from tenantry.models.base import UTCDateTime, UuidText
from tenantry.rls.policy import TENANT_COLUMN, is_control_plane


class EnableTenantRlsOp(MigrateOperation):
    """``enable_tenant_rls(table)`` in a generated migration."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def reverse(self) -> DisableTenantRlsOp:
        return DisableTenantRlsOp(self.table_name)


class DisableTenantRlsOp(MigrateOperation):
    """``disable_tenant_rls(table)`` in a generated migration."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def reverse(self) -> EnableTenantRlsOp:
        return EnableTenantRlsOp(self.table_name)


@renderers.dispatch_for(EnableTenantRlsOp)
def _render_enable(autogen_context: Any, op: EnableTenantRlsOp) -> str:
    autogen_context.imports.add("from tenantry.rls import enable_tenant_rls")
    return f"enable_tenant_rls({op.table_name!r})"


@renderers.dispatch_for(DisableTenantRlsOp)
def _render_disable(autogen_context: Any, op: DisableTenantRlsOp) -> str:
    autogen_context.imports.add("from tenantry.rls import disable_tenant_rls")
    return f"disable_tenant_rls({op.table_name!r})"


class AdoptOrCreateOp(MigrateOperation):
    """A new table with its indexes, written as ``if not adoptable(table, columns):``."""

    def __init__(self, create: ops.CreateTableOp) -> None:
        self.create = create
        self.table_name = create.table_name
        self.columns = create.columns
        self.indexes: list[ops.ModifyTableOps] = []

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns if isinstance(c, Column)]


@renderers.dispatch_for(AdoptOrCreateOp)
def _render_adopt(autogen_context: Any, op: AdoptOrCreateOp) -> list[str]:
    autogen_context.imports.add("from tenantry.migrations.adopt import adoptable")
    lines = [f"if not adoptable({op.table_name!r}, {op.column_names()!r}):"]
    for inner in (op.create, *op.indexes):
        # The printer indents each line it is given, not the lines inside a multi-line one.
        lines.extend(
            line.replace("\n", "\n    ") for line in render.render_op(autogen_context, inner)
        )
    lines.append("")  # closes the block
    return lines


def adopting(operations: Iterable[Any]) -> list[Any]:
    """``operations`` with each new table and the indexes that follow it made adoptable."""
    result: list[Any] = []
    for op in operations:
        last = result[-1] if result else None
        if isinstance(op, ops.CreateTableOp):
            result.append(AdoptOrCreateOp(op))
        elif (
            isinstance(op, ops.ModifyTableOps)
            and isinstance(last, AdoptOrCreateOp)
            and (last.table_name, last.create.schema) == (op.table_name, op.schema)
        ):
            last.indexes.append(op)
        else:
            result.append(op)
    return result


def _is_tenant_table(op: ops.CreateTableOp | ops.DropTableOp | AdoptOrCreateOp) -> bool:
    if is_control_plane(op.table_name):
        return False
    columns = op._reverse.columns if isinstance(op, ops.DropTableOp) else op.columns  # type: ignore[union-attr]
    return any(getattr(c, "name", None) == TENANT_COLUMN for c in columns)


def with_rls(operations: Iterable[Any]) -> list[Any]:
    """``operations`` with RLS switched on after each new tenant table and off before a drop."""
    result: list[Any] = []
    for op in operations:
        if isinstance(op, ops.DropTableOp) and op._reverse is not None and _is_tenant_table(op):
            result.append(DisableTenantRlsOp(op.table_name))
        result.append(op)
        if isinstance(op, ops.CreateTableOp | AdoptOrCreateOp) and _is_tenant_table(op):
            # After the block, adopted or not: a converted table gets the policy too.
            result.append(EnableTenantRlsOp(op.table_name))
    return result


def add_tenant_rls(context_: Any, revision: Any, directives: list[Any]) -> None:
    """``process_revision_directives`` hook: adds the RLS statements (see :func:`with_rls`),
    and with ``adopt`` set makes the new tables adoptable (see :func:`adopting`)."""
    adopt = bool(context_.config.attributes.get("adopt"))
    for script in directives:
        for upgrade_ops in script.upgrade_ops_list:
            upgrade_ops.ops = with_rls(adopting(upgrade_ops.ops) if adopt else upgrade_ops.ops)
        for downgrade_ops in script.downgrade_ops_list:
            downgrade_ops.ops = with_rls(downgrade_ops.ops)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """``render_item`` hook: tenantry's own column types, with their import.

    Alembic writes a type it does not know by its module path and imports nothing: a
    ``datetime`` column (``UTCDateTime``) made a revision that fails with a NameError.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from tenantry.models.base import UTCDateTime, UuidText")
        return "UTCDateTime()"
    if type_ == "type" and isinstance(obj, UuidText):
        autogen_context.imports.add("from tenantry.models import UuidText")
        return "UuidText()"
    if type_ == "type":
        module = type(obj).__module__
        if not module.startswith(("sqlalchemy.", "builtins")):
            # A type of the app's own, written with its module's path: import the module.
            autogen_context.imports.add(f"import {module}")
            return False
        return _other_dialects_type(obj, autogen_context)
    return False


def _other_dialects_type(obj: Any, autogen_context: Any) -> str | bool:
    """A type of a dialect other than the database's, rendered as on its own dialect.

    Alembic renders a type by its dialect's rules only on that dialect: made on SQLite,
    ``JSON().with_variant(JSONB(), "postgresql")`` became ``postgresql.JSONB(astext_type=
    Text())``, with no ``Text`` imported, and the revision failed with a NameError.
    """
    found = re.match(r"sqlalchemy\.dialects\.(\w+)", type(obj).__module__)
    if found is None or found.group(1) == autogen_context.dialect.name:
        return False
    name = found.group(1)
    dialect = importlib.import_module(f"sqlalchemy.dialects.{name}").dialect()
    impl = DefaultImpl.get_by_dialect(dialect)(dialect, None, True, False, None, {})
    rendered = impl.render_type(obj, autogen_context)
    if rendered is False:
        return False
    autogen_context.imports.add(f"from sqlalchemy.dialects import {name}")
    return rendered


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """``include_object`` hook: the app's tables only, and never a drop of an unknown table."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = getattr(table, "name", None) or name or ""
    if is_control_plane(table_name):
        return False  # the core's migrations own these
    return not (type_ == "table" and reflected and compare_to is None)


def reflect_no_table(name: str | None, type_: str, parent_names: Any) -> bool:
    """``include_name`` hook for ``--adopt``: the database's tables unseen, so every table
    of the models is new, and written to be adopted where it exists."""
    return type_ != "table"


def run_migrations() -> None:
    """The body of an app's ``env.py``: migrate or autogenerate against tenantry's ``Base``.

    Call it after importing the app's models so that ``Base.metadata`` holds them.
    """
    config = context.config
    options: dict[str, Any] = {
        "target_metadata": Base.metadata,
        "render_as_batch": True,  # SQLite alters tables by copying them
        "compare_type": True,
        "include_object": include_object,
        "render_item": render_item,
        "process_revision_directives": add_tenant_rls,
    }
    if config.attributes.get("adopt"):
        options["include_name"] = reflect_no_table
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
