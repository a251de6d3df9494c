"""The mapping file: which table holds the users, and how every other row finds its owner."""

from __future__ import annotations

import hashlib
import json
import re
import string
import tomllib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tenantry.migrate.errors import MappingError
from tenantry.roles import Role

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"^\s*(\w+)\s*->\s*(\w+)(?:\.(\w+))?\s*$")
_NAME_FIELDS = {"email", "local", "display_name", "id"}


class ProblemKind(StrEnum):
    """The classes of data problem the dry run looks for; each has a policy."""

    ORPHAN = "orphan"  # the owner column is NULL
    MISSING_OWNER = "missing_owner"  # the owner column names a user or parent that does not exist
    MIXED_PARENTS = "mixed_parents"  # the row's parents belong to different users
    EMAIL_COLLISION = "email_collision"  # two users' emails are equal once trimmed and case-folded
    INVALID_EMAIL = "invalid_email"  # empty, or no '@'
    PASSWORD_FORMAT = "password_format"  # noqa: S105 - a hash format tenantry cannot check
    UNCONVERTIBLE = "unconvertible"  # target mode: a value the target column cannot take
    UNSUPPORTED = "unsupported"  # a table tenantize cannot convert as it is declared


_PLAN_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_MEMBER_ROLES = tuple(r.value for r in Role if r is not Role.OWNER)  # the one owner aside
# Settings added after runs were recorded, with the defaults those runs had.
_LATER_DEFAULTS: dict[str, Any] = {
    "tenant_plan": "free",
    "single_tenant": False,
    "single_owner": None,
    "member_role": "member",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """What to do with one problem class: ``fail`` (the default), or a named resolution.

    ``assign`` puts the rows in ``target``: a tenant declared in ``[extra_tenants]``
    (by slug) or the personal tenant of a legacy user (by email). ``owner`` (mixed
    parents) keeps the tenant of the ownership path. ``suffix`` (email collisions)
    keeps the address for the lowest user id and gives the others ``local+legacy-<id>@domain``.
    ``reset`` (password formats) imports the account without a usable password.
    """

    action: str = "fail"
    target: str | None = None

    @property
    def fails(self) -> bool:
        return self.action == "fail"


_ALLOWED = {
    ProblemKind.ORPHAN: {"fail", "assign"},
    ProblemKind.MISSING_OWNER: {"fail", "assign"},
    ProblemKind.MIXED_PARENTS: {"fail", "assign", "owner"},
    ProblemKind.EMAIL_COLLISION: {"fail", "suffix"},
    ProblemKind.INVALID_EMAIL: {"fail"},
    ProblemKind.PASSWORD_FORMAT: {"fail", "reset"},
    ProblemKind.UNCONVERTIBLE: {"fail"},
    ProblemKind.UNSUPPORTED: {"fail"},
}


@dataclass(frozen=True, slots=True)
class Reference:
    """``column -> table[.key]``: a column of a row naming a row of another table."""

    column: str
    table: str
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.column} -> {self.table}" + (f".{self.key}" if self.key else "")


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """Target mode: where one column of the target app's table gets its value.

    ``source`` names the legacy column (converted to the target column's type, times
    ``scale``: 1000 for kWh -> Wh, 100 for an amount -> minor units); ``value`` is a
    constant instead; ``default`` replaces a NULL (``"now"``: the time of conversion).
    """

    target: str
    source: str | None = None
    scale: int | None = None
    value: Any = None
    has_value: bool = False
    default: Any = None
    has_default: bool = False


@dataclass(frozen=True, slots=True)
class TableRule:
    """How one table is treated: owned (through ``owner``) or global."""

    name: str
    is_global: bool = False
    owner: Reference | None = None  # table == the users table: a direct user column
    references: tuple[Reference, ...] = ()  # parents that must share the row's tenant
    into: str | None = None  # target mode: the target app's table (default: the same name)
    columns: tuple[ColumnRule, ...] = ()  # target mode: target column <- legacy column
    drop: tuple[str, ...] = ()  # target mode: legacy columns knowingly left behind


@dataclass(frozen=True, slots=True)
class UsersRule:
    table: str
    email: str
    id: str = "id"
    password_hash: str | None = None
    display_name: str | None = None
    created_at: str | None = None
    email_overrides: dict[int, str] = field(default_factory=dict)
    retarget_references: bool = True


@dataclass(frozen=True, slots=True)
class ExtraTenant:
    slug: str
    name: str
    owner_email: str | None = None
    kind: str = "business"  # a shared holder of rows, not one person's


@dataclass(frozen=True, slots=True)
class Mapping:
    users: UsersRule
    tables: dict[str, TableRule]
    policies: dict[ProblemKind, Policy]
    tenant_name: str = "{email}"
    tenant_kind: str = "personal"
    extra_tenants: dict[str, ExtraTenant] = field(default_factory=dict)
    target: str | None = None  # an installed app (entry point ``tenantry.models``)
    tenant_plan: str = "free"  # every tenant the conversion makes, the extra ones too
    # One tenant for the whole database (a company's CRM: its users are colleagues), not
    # one per user: ``owner`` (an email; else the lowest user id) owns it, the others
    # join it as ``member_role``.
    single_tenant: bool = False
    single_owner: str | None = None
    member_role: str = "member"

    @property
    def owned(self) -> list[TableRule]:
        return [t for t in self.tables.values() if not t.is_global]

    def policy(self, kind: ProblemKind) -> Policy:
        return self.policies.get(kind, Policy())

    def fingerprint(self) -> str:
        """A stable hash: a re-run with a different mapping is refused."""
        data = asdict(self)
        # Settings added after runs were recorded count only when set: their defaults are
        # what those runs did, so the runs still match.
        for extra in data["extra_tenants"].values():
            if extra["kind"] == "business":
                del extra["kind"]
        for key, default in _LATER_DEFAULTS.items():
            if data[key] == default:
                del data[key]
        raw = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping TOML file.

    Raises:
        MappingError: the file is missing, not TOML, or not a valid mapping.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse_mapping(data)
    except MappingError as exc:
        raise MappingError(f"{path}: {exc.message}") from None


def parse_mapping(data: dict[str, Any]) -> Mapping:
    """Validate the parsed TOML ``data`` and build a :class:`Mapping`."""
    _only(
        data,
        {"version", "target", "users", "tenants", "tables", "policies", "extra_tenants"},
        "top level",
    )
    target = data.get("target")
    if target is not None and (not isinstance(target, str) or not _IDENT.match(target)):
        raise MappingError('target must name an installed app, e.g. target = "meterbook"')
    if data.get("version", 1) != 1:
        raise MappingError("only mapping version 1 is understood")
    users = _users(_table(data, "users"))
    tenants = data.get("tenants", {})
    _only(tenants, {"name", "kind", "plan", "single", "owner", "role"}, "[tenants]")
    name = str(tenants.get("name", "{email}"))
    _check_template(name)
    kind = str(tenants.get("kind", "personal"))
    if kind not in TENANT_KINDS:
        raise MappingError("[tenants] kind must be personal, family or business")
    plan = tenants.get("plan", "free")
    if not isinstance(plan, str) or not _PLAN_NAME.fullmatch(plan):
        raise MappingError(
            "[tenants] plan must name a plan of your catalogue: lower-case letters, digits, "
            "'-' or '_', at most 32"
        )
    single, owner, role = _single(tenants)
    extra = {slug: _extra(slug, spec) for slug, spec in dict(data.get("extra_tenants", {})).items()}
    tables = {
        name_: _rule(name_, spec, users.table) for name_, spec in _table(data, "tables").items()
    }
    if users.table in tables:
        raise MappingError(f"[tables.{users.table}]: the users table is not owned or global")
    policies = _policies(dict(data.get("policies", {})), extra)
    for rule in tables.values():
        for ref in (rule.owner, *rule.references):
            if ref is not None and ref.table in tables and tables[ref.table].is_global:
                raise MappingError(f"[tables.{rule.name}]: {ref} leads to a global table")
    shaped = [r.name for r in tables.values() if r.columns or r.into or r.drop]
    if shaped and target is None:
        raise MappingError(
            f"[tables.{shaped[0]}]: columns, into and drop need a target app (target = ...)"
        )
    return Mapping(users, tables, policies, name, kind, extra, target, plan, single, owner, role)


def _single(tenants: dict[str, Any]) -> tuple[bool, str | None, str]:
    """``[tenants] single``, ``owner`` and ``role``: one tenant for every user."""
    single = tenants.get("single", False)
    if not isinstance(single, bool):
        raise MappingError("[tenants] single must be true or false")
    owner = tenants.get("owner")
    role = tenants.get("role", "member")
    if not single and (owner is not None or "role" in tenants):
        raise MappingError("[tenants] owner and role go with single = true")
    if owner is not None and (not isinstance(owner, str) or "@" not in owner):
        raise MappingError("[tenants] owner must be the email of a user of the users table")
    if role not in _MEMBER_ROLES:
        raise MappingError(f"[tenants] role must be one of {', '.join(_MEMBER_ROLES)}")
    return single, owner, str(role)


def check_references(mapping: Mapping) -> None:
    """Every table a reference leads to is declared (or is the users table).

    Checked once the declared tables have been found in the database, so that a misspelt
    ``[tables.crads]`` is named as the table the database lacks, not as its children's
    undeclared parent.

    Raises:
        MappingError: a reference names a table the mapping does not declare.
    """
    for rule in mapping.tables.values():
        for ref in (rule.owner, *rule.references):
            if ref is not None and ref.table not in {mapping.users.table, *mapping.tables}:
                raise MappingError(f"[tables.{rule.name}]: {ref} names an undeclared table")


def _only(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MappingError(f"a [{key}] section is required")
    return value


def _ident(value: Any, where: str) -> str:
    if value is None:
        raise MappingError(f"{where} is required")
    if not isinstance(value, str) or not _IDENT.match(value):
        raise MappingError(
            f"{where}: {value!r} is not a plain table or column name (letters, digits and "
            "underscores, not starting with a digit), the only names tenantize converts; "
            "rename it first (ALTER TABLE … RENAME TO / RENAME COLUMN) and in the app"
        )
    return value


def _users(spec: dict[str, Any]) -> UsersRule:
    keys = {"table", "id", "email", "password_hash", "display_name", "created_at"}
    _only(spec, {*keys, "email_overrides", "retarget_references"}, "[users]")
    opt = {k: _ident(spec[k], f"[users] {k}") for k in keys - {"table", "email"} if k in spec}
    overrides: dict[int, str] = {}
    for key, email in dict(spec.get("email_overrides", {})).items():
        if not str(key).isdigit() or not isinstance(email, str) or "@" not in email:
            shown = json.dumps(email) if isinstance(email, str) else repr(email)
            why = "not a user id" if not str(key).isdigit() else "not an email address"
            raise MappingError(
                f'[users.email_overrides] "{key}" = {shown}: {why}; '
                'write "<user id>" = "new@address"'
            )
        overrides[int(key)] = email
    return UsersRule(
        table=_ident(spec.get("table"), "[users] table"),
        email=_ident(spec.get("email"), "[users] email"),
        email_overrides=overrides,
        retarget_references=bool(spec.get("retarget_references", True)),
        **opt,
    )


def _reference(text: Any, where: str) -> Reference:
    match = _REF.match(text) if isinstance(text, str) else None
    if match is None:
        raise MappingError(f"{where}: expected 'column -> table' or 'column -> table.key'")
    return Reference(match[1], match[2], match[3])


def _rule(name: str, spec: Any, users_table: str) -> TableRule:
    _ident(name, "[tables]")
    if not isinstance(spec, dict):
        raise MappingError(f"[tables.{name}] must be a table")
    _only(spec, {"global", "owner", "references", "into", "columns", "drop"}, f"[tables.{name}]")
    if spec.get("global"):
        if set(spec) - {"global"}:
            raise MappingError(f"[tables.{name}]: a global table has no owner or references")
        return TableRule(name, is_global=True)
    owner_spec = spec.get("owner")
    if owner_spec is None:
        raise MappingError(
            f"[tables.{name}]: say how a row finds its owner (owner = ...) "
            "or declare the table global = true"
        )
    owner = (
        Reference(_ident(owner_spec, f"[tables.{name}] owner"), users_table)
        if isinstance(owner_spec, str) and "->" not in owner_spec
        else _reference(owner_spec, f"[tables.{name}] owner")
    )
    refs = tuple(_reference(r, f"[tables.{name}] references") for r in spec.get("references", []))
    into = _ident(spec["into"], f"[tables.{name}] into") if "into" in spec else None
    columns = tuple(
        _column(target, value, f"[tables.{name}.columns]")
        for target, value in dict(spec.get("columns", {})).items()
    )
    drop = tuple(_ident(c, f"[tables.{name}] drop") for c in spec.get("drop", []))
    return TableRule(name, owner=owner, references=refs, into=into, columns=columns, drop=drop)


def _column(target: str, spec: Any, where: str) -> ColumnRule:
    _ident(target, where)
    if isinstance(spec, str):
        return ColumnRule(target, _ident(spec, f"{where} {target}"))
    if not isinstance(spec, dict):
        raise MappingError(
            f'{where} {target}: write "legacy_column" or {{ from = "legacy_column", '
            "scale = 1000, default = ... }} or {{ value = ... }}"
        )
    _only(spec, {"from", "scale", "value", "default"}, f"{where} {target}")
    if ("from" in spec) == ("value" in spec):
        raise MappingError(f"{where} {target}: give exactly one of from or value")
    scale = spec.get("scale")
    if scale is not None and (not isinstance(scale, int) or isinstance(scale, bool) or scale < 1):
        raise MappingError(f"{where} {target}: scale must be a whole number >= 1 (1000: kWh -> Wh)")
    return ColumnRule(
        target,
        _ident(spec["from"], f"{where} {target}") if "from" in spec else None,
        scale,
        spec.get("value"),
        "value" in spec,
        spec.get("default"),
        "default" in spec,
    )


def _extra(slug: str, spec: Any) -> ExtraTenant:
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", slug) or not isinstance(spec, dict):
        raise MappingError(
            f"[extra_tenants.{slug}]: the slug must be lowercase letters, "
            "digits and dashes, and the value a table"
        )
    _only(spec, {"name", "owner", "kind"}, f"[extra_tenants.{slug}]")
    owner = spec.get("owner")
    kind = str(spec.get("kind", "business"))
    if kind not in TENANT_KINDS:
        raise MappingError(f"[extra_tenants.{slug}] kind must be personal, family or business")
    return ExtraTenant(slug, str(spec.get("name", slug)), str(owner) if owner else None, kind)


TENANT_KINDS = ("personal", "family", "business")


def _policies(spec: dict[str, Any], extra: dict[str, ExtraTenant]) -> dict[ProblemKind, Policy]:
    result: dict[ProblemKind, Policy] = {}
    for key, value in spec.items():
        try:
            kind = ProblemKind(key)
        except ValueError:
            known = ", ".join(k.value for k in ProblemKind)
            raise MappingError(
                f"[policies]: unknown problem class {key!r} (known: {known})"
            ) from None
        action, _, target = str(value).partition(":")
        if action not in _ALLOWED[kind]:
            allowed = ", ".join(sorted(_ALLOWED[kind]))
            raise MappingError(f"[policies] {key} = {value!r}: allowed: {allowed}")
        if action == "assign":
            if not target:
                raise MappingError(f"[policies] {key}: write 'assign:<tenant slug or user email>'")
            if "@" not in target and target not in extra:
                raise MappingError(
                    f"[policies] {key}: no tenant {target!r}; declare [extra_tenants.{target}]"
                )
        result[kind] = Policy(action, target or None)
    return result


def _check_template(template: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise MappingError(f"[tenants] name {template!r}: {exc}") from None
    unknown = fields - _NAME_FIELDS
    if unknown:
        raise MappingError(
            f"[tenants] name: unknown field(s) {sorted(unknown)}; use {sorted(_NAME_FIELDS)}"
        )
