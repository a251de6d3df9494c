"""``tenantize --init``: draft a mapping from the foreign keys, for a person to review."""

from __future__ import annotations

import json
import re

from sqlalchemy import Connection

from tenantry.migrate.errors import MappingError
from tenantry.migrate.identifiers import quoted
from tenantry.migrate.schema import (
    TableInfo,
    app_tables,
    named_column,
    password_column,
    table_info,
)

_HEADER = """\
# tenantize mapping, drafted by `tenantry tenantize --init` from {source}.
# REVIEW EVERY LINE: a draft is a guess, and tenantize itself never guesses.
# Each table is owned (`owner = "user_column"` or `owner = "parent_column -> parent_table"`)
# or shared by everyone (`global = true`). `references` lists other parents that must be
# in the same tenant as the row.
version = 1

[users]
table = {users}
id = {id}{id_note}
email = {email}{email_note}
{optional}
[tenants]
name = "{{email}}"      # or e.g. "{{display_name}}'s home"; fields: email local display_name id
kind = "personal"
# single = true        # one tenant for the whole database (one company's app), every user a
                       # member; owner = "<email>" owns it, role = "member" for the others

[policies]
# What to do with each problem the dry run finds; the default, "fail", stops and explains.
# orphan = "assign:unclaimed"        # owner column is NULL
# missing_owner = "assign:unclaimed" # owner column names a row that does not exist
# mixed_parents = "owner"            # parents of a row belong to different users
# email_collision = "suffix"         # emails equal once trimmed and case-folded

# [extra_tenants.unclaimed]
# name = "Unclaimed records"
# owner = "admin@example.com"
"""


def _string(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's): a name with a quote,
    a backslash or a space stays one value."""
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    """``name`` as a TOML key: bare where TOML allows it, else quoted (``"task tags"``)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)


# Column names that hold a person's address, and their name, in order of preference
# (in any case, underscores or none: EmailAddress, E_Mail).
_EMAIL_COLUMNS = ("email", "email_address", "mail")
_NAME_COLUMNS = ("display_name", "name", "full_name", "username")
_CREATED_COLUMNS = (
    "created_at",
    "date_joined",
    "created",
    "signed_up_at",
    "registered_at",
    "joined_at",
    "inserted_at",
)


def _named_users(infos: dict[str, TableInfo], named: str) -> tuple[TableInfo, str]:
    """The table ``--users`` names (``table`` or ``table.column``) and its address column."""
    table, _, column = named.partition(".")
    if not table or "." in column or (not column and named.endswith(".")):
        raise MappingError(f"--users: {named!r} is not TABLE or TABLE.EMAIL_COLUMN")
    name = named_column(infos, (table,))
    if name is None:
        raise MappingError(f"--users: no table {table!r} here (tables: {', '.join(sorted(infos))})")
    info = infos[name]
    found = named_column(info.columns, (column,) if column else _EMAIL_COLUMNS)
    if found is None:
        wanted = repr(column) if column else "address column (email, email_address, mail)"
        raise MappingError(
            f"--users: {name} has no {wanted}; name it as --users {name}.COLUMN "
            f"(columns: {', '.join(info.columns)})"
        )
    return info, found


def _users_table(infos: dict[str, TableInfo], named: str | None) -> tuple[TableInfo, str]:
    """The table of people and its address column: the one ``--users`` names, else found."""
    if named:
        return _named_users(infos, named)
    for wanted in ("users", "user", "accounts_user", "auth_user"):
        name = named_column(infos, (wanted,))  # in any case: Users, AUTH_USER
        if name is not None and (column := named_column(infos[name].columns, _EMAIL_COLUMNS)):
            return infos[name], column
    with_email = [
        (info, column)
        for info in infos.values()
        if info.key and (column := named_column(info.columns, _EMAIL_COLUMNS)) is not None
    ]
    if len(with_email) == 1:
        return with_email[0]
    raise MappingError(
        "cannot tell which table holds the users; name it with --users TABLE[.EMAIL_COLUMN], "
        "or write the [users] section yourself (table, id, email; docs/tenantize.md, step 1)"
    )


def _email_note(users: TableInfo, email: str, *, named: bool) -> str:
    """The comment on the address column: a guess says so, as does any other address;
    none on a column ``--users`` named."""
    if named:
        return ""
    notes = [] if email == "email" else ["found by its column name"]
    others = [c for c in users.columns if c != email and named_column([c], _EMAIL_COLUMNS)]
    if others:
        notes.append(f"also an address: {', '.join(others)}")
    return f"   # REVIEW: {'; '.join(notes)}" if notes else ""


def _id_note(conn: Connection, table: str, key: str | None) -> str:
    """A REVIEW note when the users' key holds text: the dry run would refuse it."""
    if key is None:
        return ""
    sample = conn.exec_driver_sql(
        f"SELECT {quoted(key)} FROM {quoted(table)} WHERE {quoted(key)} IS NOT NULL LIMIT 1"
    ).scalar()
    if sample is None or isinstance(sample, int) or str(sample).isdigit():
        return ""
    return (
        f"   # REVIEW: holds {str(sample)[:40]!r}: tenantry's user ids are integers, so these "
        "users cannot be converted yet (docs/tenantize.md, Known limits)"
    )


def draft_mapping(conn: Connection, source: str, users_table: str | None = None) -> str:
    """A mapping TOML for the database on ``conn``, with comments where it guessed;
    ``users_table`` (``table`` or ``table.column``) names the people instead of a guess."""
    infos = {n: table_info(conn, n) for n in app_tables(conn)}
    users, email = _users_table(infos, users_table)
    password = password_column(users.columns)
    optional = (
        f"password_hash = {_string(password)}   # checked at sign-in (argon2, bcrypt, PBKDF2), "
        "rehashed to argon2 on the first one\n"
        if password
        else "# REVIEW: no password column found; every user will have to reset their password\n"
    )
    optional += "".join(
        f"{key} = {_string(col)}\n"
        for key, col in (
            ("display_name", named_column(users.columns, _NAME_COLUMNS) or ""),
            ("created_at", named_column(users.columns, _CREATED_COLUMNS) or ""),
        )
        if col in users.columns
    )
    lines = [
        _HEADER.format(
            source=source,
            users=_string(users.name),
            id=_string(users.key or "id"),
            id_note=_id_note(conn, users.name, users.key),
            email=_string(email),
            email_note=_email_note(users, email, named="." in (users_table or "")),
            optional=optional,
        )
    ]
    owners: dict[str, tuple[str, str]] = {}
    others = {n: i for n, i in infos.items() if n != users.name}

    def assign(required: bool, *, one: bool) -> bool:
        """Give owners to the tables still without; with ``one``, stop at the first."""
        pending = [n for n in others if n not in owners]
        # Parents first: a table whose never-NULL parent has no owner yet waits for it.
        pending.sort(key=lambda n: _waits_for_parent(others[n], owners, others))
        changed = False
        for name in pending:
            found = _owner_of(others[name], users.name, owners, set(infos), required=required)
            if found:
                owners[name] = found
                changed = True
                if one:
                    break
        return changed

    # Owners through columns that are never NULL, all the way down the tree (a nullable one
    # leaves orphans for the dry run); when none is left, one table through any column
    # (a root whose owner column may be NULL), then never-NULL ones again below it.
    while assign(True, one=False) or assign(False, one=True):
        pass
    for name, info in sorted(others.items()):
        lines.append(f"[tables.{_key(name)}]")
        if name not in owners:
            lines.append("global = true   # REVIEW: nothing leads from this table to a user\n")
            continue
        owner, why = owners[name]
        through = owner.split(" -> ")[0]  # the owner's column
        others_possible = [
            fk.columns[0] if fk.table == users.name else f"{fk.columns[0]} -> {fk.table}"
            for fk in info.foreign_keys
            if len(fk.columns) == 1
            and fk.table != name
            and (fk.table == users.name or fk.table in owners)
            and fk.columns[0] != through
        ]
        if others_possible:
            why += f"; REVIEW: also possible: {', '.join(sorted(others_possible))}"
        if not info.primary_key:
            why += (
                "; REVIEW: no primary key, which converting needs: give the table one"
                " first, or mark it global = true"
            )
        lines.append(f"owner = {_string(owner)}   # {why}")
        refs = [
            f"{fk.columns[0]} -> {fk.table}"
            for fk in info.foreign_keys
            if len(fk.columns) == 1 and fk.table in owners and fk.columns[0] != through
        ]
        if refs:
            lines.append("references = [" + ", ".join(map(_string, refs)) + "]")
        lines.append("")
    return "\n".join(lines)


def _waits_for_parent(
    info: TableInfo, owners: dict[str, tuple[str, str]], others: dict[str, TableInfo]
) -> bool:
    """Whether a never-NULL foreign key of ``info`` leads to a table without an owner yet."""
    return any(
        len(fk.columns) == 1
        and fk.columns[0] in info.not_null
        and fk.table in others
        and fk.table not in owners
        and fk.table != info.name
        for fk in info.foreign_keys
    )


def _owner_of(
    info: TableInfo,
    users: str,
    owners: dict[str, tuple[str, str]],
    tables: set[str],
    *,
    required: bool,
) -> tuple[str, str] | None:
    """The column a row of ``info`` finds its owner through, and why; with ``required``,
    only a foreign key whose column is never NULL: to the users, else to an owned parent."""
    single = [fk for fk in info.foreign_keys if len(fk.columns) == 1]
    if required:
        single = [fk for fk in single if fk.columns[0] in info.not_null]
    for fk in single:
        if fk.table == users:
            return fk.columns[0], f"foreign key to {users}"
    if required:
        for fk in single:
            if fk.table in owners and fk.table != info.name:
                return f"{fk.columns[0]} -> {fk.table}", f"foreign key to {fk.table}"
        return None
    # The people's key by its name: user_id, or after their table (member_id of members).
    named = named_column(info.columns, ("user_id", f"{users}_id", f"{users.removesuffix('s')}_id"))
    if named is not None:
        return named, "REVIEW: from the column name; no foreign key declared"
    for fk in single:
        if fk.table in owners:
            return f"{fk.columns[0]} -> {fk.table}", f"foreign key to {fk.table}"
    for col in info.columns:
        stem = col[:-3] if col.endswith("_id") else ""
        for candidate in (stem, stem + "s"):
            if stem and candidate in owners and candidate in tables:
                return f"{col} -> {candidate}", "REVIEW: from the column name; no foreign key"
    return None
