"""SQL that follows ownership paths: a row's owning user before, its expected tenant after.

Identifiers come from the database's own catalog and the validated mapping and are
always quoted; values (tenant ids) are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as ReadMapping
from typing import Protocol

from tenantry.migrate.errors import MappingError
from tenantry.migrate.mapping import Mapping, Reference, TableRule

Quote = Callable[[str], str]

OWNERS_TABLE = "tenantry_tenantize_owners"


class Keyed(Protocol):
    """What the ownership SQL needs of a table: its single-column primary key."""

    @property
    def key(self) -> str | None: ...


Tables = ReadMapping[str, Keyed]


def parent_key(ref: Reference, infos: Tables, mapping: Mapping) -> str:
    """The column of ``ref.table`` that ``ref.column`` points at."""
    if ref.key:
        return ref.key
    if ref.table == mapping.users.table:
        return mapping.users.id
    key = infos[ref.table].key
    if key is None:
        raise MappingError(
            f"{ref}: {ref.table} has no single-column primary key; write {ref}.<key>"
        )
    return key


def owner_select(name: str, mapping: Mapping, infos: Tables, q: Quote) -> str:
    """``SELECT t.*, <owning legacy user id> AS __owner FROM name``, on the legacy schema."""
    ref = _owner(mapping.tables[name])
    if ref.table == mapping.users.table:
        return f"SELECT t.*, t.{q(ref.column)} AS __owner FROM {q(name)} t"
    inner = owner_select(ref.table, mapping, infos, q)
    key = parent_key(ref, infos, mapping)
    return (
        f"SELECT t.*, p.__owner AS __owner FROM {q(name)} t "
        f"LEFT JOIN ({inner}) p ON p.{q(key)} = t.{q(ref.column)}"
    )


def owner_tenant(rule: TableRule, mapping: Mapping, infos: Tables, q: Quote) -> str:
    """A scalar subquery: the tenant of the row's owner, on the converted parents."""
    ref = _owner(rule)
    if ref.table == mapping.users.table:
        return f"(SELECT o.tenant_id FROM {OWNERS_TABLE} o WHERE o.user_id = t.{q(ref.column)})"
    key = parent_key(ref, infos, mapping)
    return f"(SELECT o.tenant_id FROM {q(ref.table)} o WHERE o.{q(key)} = t.{q(ref.column)})"


def expected_tenant(
    rule: TableRule,
    mapping: Mapping,
    infos: Tables,
    q: Quote,
    *,
    assign_mixed: list[Reference],
    cast: str = "",
) -> str:
    """The tenant a row must get, policies included, as one SQL expression.

    Binds ``:orphan``, ``:missing`` and ``:mixed`` (the policies' tenants, or NULL).
    ``assign_mixed`` lists the references whose disagreeing rows go to ``:mixed``.
    """
    ref = _owner(rule)
    owner = owner_tenant(rule, mapping, infos, q)
    orphan = f"WHEN t.{q(ref.column)} IS NULL THEN {_param('orphan', cast)}"
    if not assign_mixed:  # the owner's lookup runs once a row, not twice
        return f"CASE {orphan} ELSE coalesce({owner}, {_param('missing', cast)}) END"
    whens = [orphan, f"WHEN {owner} IS NULL THEN {_param('missing', cast)}"]
    for other in assign_mixed:
        key = parent_key(other, infos, mapping)
        whens.append(
            f"WHEN EXISTS (SELECT 1 FROM {q(other.table)} x WHERE x.{q(key)} = "
            f"t.{q(other.column)} AND x.tenant_id <> {owner}) THEN {_param('mixed', cast)}"
        )
    return "CASE " + " ".join(whens) + f" ELSE {owner} END"


def _param(name: str, cast: str) -> str:
    return f"CAST(:{name} AS {cast})" if cast else f":{name}"


def _owner(rule: TableRule) -> Reference:
    if rule.owner is None:
        raise MappingError(f"{rule.name} is global: it has no owner")
    return rule.owner


def refuse_cycles(mapping: Mapping) -> None:
    """Stop a mapping whose ownership paths go round, before anything is read or changed:
    a row owned through its own table (or a ring of tables) never reaches a user.

    Raises:
        MappingError: a table is owned through itself, or tables through each other.
    """
    for rule in mapping.owned:
        if rule.owner is not None and rule.owner.table == rule.name:
            raise MappingError(
                f"ownership paths form a cycle among: {rule.name} ([tables.{rule.name}] is "
                f"owned through itself, {rule.owner}): own it by a column naming its user "
                f'(owner = "user_id") and list {rule.owner} under references'
            )
    conversion_order(
        {r.name: {x.table for x in (r.owner, *r.references) if x} for r in mapping.owned}
    )


def conversion_order(deps: dict[str, set[str]]) -> list[str]:
    """Owned tables, parents before children; ``deps`` maps a table to its parents.

    Raises:
        MappingError: tables depend on each other in a cycle.
    """
    pending = {
        name: {d for d in parents if d != name and d in deps} for name, parents in deps.items()
    }
    order: list[str] = []
    while pending:
        ready = sorted(n for n, d in pending.items() if not d - set(order))
        if not ready:
            raise MappingError(f"ownership paths form a cycle among: {', '.join(sorted(pending))}")
        for name in ready:
            order.append(name)
            del pending[name]
    return order
