"""Recreate a tenant from its export document, on any instance and backend: all or nothing.

The tenant and every row keep their ids. Members are matched to this instance's
accounts by email; the others get a single-use invite bound to their address.
References to users inside tenant rows (an author column) are translated to the
matched accounts, or emptied (refused where the column cannot be empty). Before
anything is written the document must be complete (row counts and checksums of the
export) and from a schema this database has; after writing, every table is read back
and checked the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Mapper, Session

from tenantry import audit, invites
from tenantry.context import TenantContext, tenant_scope
from tenantry.errors import Conflict, TenantryError, ValidationFailed
from tenantry.export import (
    FORMAT,
    ArrayWriter,
    fields,
    key_ordered_batches,
    schema_revisions,
    table_of,
    tenant_mappers,
    user_columns,
)
from tenantry.ids import TenantId, UserId
from tenantry.import_values import BadValue, aware_datetime, column_reader
from tenantry.migrate.verify import Verification
from tenantry.models import Base, Invite, Membership, Tenant, TenantKind, User, normalize_email
from tenantry.models.user import NO_PASSWORD, checked_email, is_erased_address
from tenantry.plans.catalogue import MEMBERS, Catalogue
from tenantry.plans.changes import over_limits
from tenantry.plans.entitlements import catalogue_of
from tenantry.privacy import erased_address
from tenantry.roles import Role
from tenantry.slugs import is_canonical
from tenantry.tenants import checked_name, free_slug

FORMAT_NAME, _, _VERSION = FORMAT.partition("/")
SUPPORTED_VERSION = int(_VERSION)
INSERT_BATCH = 1000


class ImportRefused(TenantryError):
    """The document cannot be imported here; nothing was written."""

    code = "import_refused"
    status = 422


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    email: str
    role: str
    status: str  # "matched" to an account here, "invited", or an account "created"
    user_id: int | None = None
    invite_code: str | None = None


@dataclass(frozen=True, slots=True)
class PersonOutcome:
    """Someone the rows name who is not a member (a former member): their account here."""

    email: str
    status: str  # "matched" to an account here, an account "created", "erased", or "none"
    user_id: int | None = None


@dataclass(slots=True)
class ImportResult:
    tenant_id: uuid.UUID
    slug: str
    plan: str
    rows: dict[str, int]
    members: list[MemberOutcome] = field(default_factory=list)
    people: list[PersonOutcome] = field(default_factory=list)
    verification: Verification = field(default_factory=Verification)


InviteHook = Callable[[Invite, str, Tenant], None]
"""Called with (invite, its code, the tenant) in the import's transaction: to mail it."""


def parse_document(raw: bytes | str) -> dict[str, Any]:
    """The document as a dict, or :class:`ImportRefused` saying why it is not one."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        start = (raw.encode() if isinstance(raw, str) else raw)[:64].lstrip()
        if start.startswith(b'{"format":"' + FORMAT_NAME.encode()):
            # A cut download or copy: the parser's words ("not valid UTF-8" when the cut
            # falls inside a character) would send the operator looking at encodings.
            raise ImportRefused(
                f"the file is cut short or damaged: it begins as a {FORMAT_NAME} document but "
                f"is not complete JSON ({exc}); export it again; nothing imported"
            ) from exc
        raise ImportRefused(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise ImportRefused("not a tenantry export document: expected a JSON object")
    return doc


def _check_format(doc: dict[str, Any]) -> None:
    name, _, version = str(doc.get("format", "")).partition("/")
    if name != FORMAT_NAME or not version.isdigit():
        raise ImportRefused(f"not a tenantry export document (format {FORMAT!r} expected)")
    if int(version) > SUPPORTED_VERSION:
        raise ImportRefused(
            f"this document has format {name}/{version}, written by a newer tenantry; this "
            f"instance reads up to {FORMAT}: upgrade tenantry here, then import again"
        )
    for key, kind in (("tenant", dict), ("members", list), ("tables", dict), ("summary", dict)):
        if not isinstance(doc.get(key), kind):
            raise ImportRefused(f"the document has no valid {key!r} section")


def _check_schema(session: Session, doc: dict[str, Any], mappers: dict[str, Mapper[Any]]) -> None:
    """Refuse a document naming a table or field this database does not have."""
    schema: dict[str, Any] = doc["schema"] if isinstance(doc.get("schema"), dict) else {}
    declared: dict[str, Any] = schema["tables"] if isinstance(schema.get("tables"), dict) else {}
    unknown: list[str] = []
    for name, rows in doc["tables"].items():
        if name not in mappers:
            unknown.append(f"table {name}")
            continue
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportRefused(f"table {name}: expected a list of row objects")
        known = set(fields(mappers[name]))
        seen = set(declared.get(name) or ())
        for row in rows:
            seen.update(row)
        unknown += [f"{name}.{f}" for f in sorted(seen - known)]
    if not unknown:
        _check_tables_exist(session, [mappers[name] for name in doc["tables"]])
    unmapped = [n for n in doc["tables"] if n not in mappers and _has_table(session, n)]
    if unmapped and len(unmapped) == len(unknown):
        raise ImportRefused(
            f"{', '.join(unmapped[:5])} {'is a table' if len(unmapped) == 1 else 'are tables'} "
            "of this database that no loaded model maps: pass --models with the module "
            "that declares them (your app's models); nothing imported",
            details={"unmapped": unmapped},
        )
    if unknown:
        theirs = ", ".join(schema.get("revisions") or []) or "unknown"
        ours = ", ".join(schema_revisions(session)) or "unknown"
        listed = f"{', '.join(unknown[:5])} {'is' if len(unknown) == 1 else 'are'} unknown here"
        if theirs == ours and theirs != "unknown":  # no newer schema: an edited document
            raise ImportRefused(
                f"{listed}, and the document comes from this very schema ({ours}): it was "
                "changed after export (or the app owning these tables is not loaded here); "
                "nothing imported",
                details={"unknown": unknown},
            )
        raise ImportRefused(
            f"the document comes from a newer schema ({theirs}) than this database ({ours}): "
            f"{listed}. "
            "Upgrade tenantry and its apps here and run `tenantry migrate`, then import again "
            "(or the app owning these tables is not installed)",
            details={"unknown": unknown},
        )


def _has_table(session: Session, name: str) -> bool:
    return bool(inspect(session.connection()).has_table(name))


def _check_tables_exist(session: Session, mappers: list[Mapper[Any]]) -> None:
    """Refuse a document whose tables are mapped here but were never created (an app's
    migrations not applied): before writing, so the refusal names them all."""
    inspector = inspect(session.connection())
    missing = sorted(
        str(table.name)
        for table in {table_of(m) for m in mappers}
        if not inspector.has_table(str(table.name), schema=table.schema)
    )
    if missing:
        raise ImportRefused(
            f"the document names tables this database does not have: {', '.join(missing)}. "
            "Create them with the migrations of the app that owns them (the server's: "
            "`tenantry serve --migrate-only`; your app's: `tenantry migrate --app DIR`), "
            "then import again",
            details={"missing": missing},
        )


def _check_integrity(doc: dict[str, Any], result: Verification) -> None:
    """Counts and checksums of the document's tables against its own summary.

    An export counts and checksums every table it writes: a table in the summary (or the
    schema) but not among the tables was cut from the file, and a table without its count
    and checksum cannot be told intact. Either is refused, not imported without it.
    """
    counts = doc["summary"].get("rows")
    sums = doc["summary"].get("checksums")
    if not isinstance(counts, dict) or not isinstance(sums, dict):
        raise ImportRefused(
            "the document's summary has no row counts and checksums: it is incomplete or "
            "was changed after export; nothing imported"
        )
    schema = doc.get("schema")
    declared = schema.get("tables") if isinstance(schema, dict) else None
    named = set(counts) | set(sums) | (set(declared) if isinstance(declared, dict) else set())
    cut = sorted(named - set(doc["tables"]))
    unsummed = sorted(n for n in doc["tables"] if n not in counts or n not in sums)
    problems = [f"tables missing from the file: {', '.join(cut)}"] if cut else []
    if unsummed:
        problems.append(f"tables without a count and checksum: {', '.join(unsummed)}")
    if problems:
        raise ImportRefused(
            f"the document is incomplete or was changed after export ({'; '.join(problems)}); "
            "nothing imported",
            details={"missing": cut, "unsummed": unsummed},
        )
    for name, rows in sorted(doc["tables"].items()):
        writer = ArrayWriter()
        for start in range(0, len(rows), INSERT_BATCH):  # one batch serialised at a time
            writer.chunk(rows[start : start + INSERT_BATCH])
        result.add(
            f"document rows:{name}",
            counts[name] == len(rows),
            f"{counts[name]} exported, {len(rows)} in the file",
        )
        same = sums[name] == writer.checksum
        result.add(f"document checksum:{name}", same, "intact" if same else "CHANGED since export")
    if not result.ok:
        failed = ", ".join(c.name for c in result.checks if not c.ok)
        raise ImportRefused(
            f"the document is incomplete or was changed after export ({failed}); nothing imported"
        )


def _new_slug(session: Session, slug: str) -> str:
    return free_slug(session, slug if is_canonical(slug) else "tenant")


def _tenant_of(head: dict[str, Any]) -> Tenant:
    """The tenant row the header describes, holding only what the API could have written."""
    try:
        tenant_id = uuid.UUID(str(head["id"]))
    except (KeyError, ValueError) as exc:
        raise ImportRefused("the tenant section has no valid id") from exc
    name = head.get("name")
    try:
        name = checked_name(name if isinstance(name, str) else "")
    except ValidationFailed as exc:
        raise ImportRefused(f"the tenant's name: {exc.message}") from None
    kind = head.get("kind") or TenantKind.PERSONAL.value
    if kind not in set(TenantKind):
        known = ", ".join(TenantKind)
        raise ImportRefused(f"the tenant's kind {kind!r:.40} is not one of {known}")
    try:
        plan = column_reader(inspect(Tenant).columns["plan"])(head.get("plan") or "free")
    except BadValue as exc:
        raise ImportRefused(f"the tenant's plan: {exc}") from exc
    created = head.get("created_at")
    try:
        created_at = aware_datetime(created) if created is not None else datetime.now(UTC)
    except BadValue as exc:
        raise ImportRefused(f"the tenant's created_at: {exc}") from exc
    settings = head.get("settings")
    return Tenant(
        id=tenant_id,
        slug=str(head.get("slug", "")),
        name=name,
        kind=kind,
        plan=plan,
        settings=settings if isinstance(settings, dict) else {},
        created_at=created_at,
    )


def _plan_here(name: str, catalogue: Catalogue | None, *, asked: bool) -> str:
    """``name`` if this instance offers it (or nobody said what it offers), else refused."""
    if catalogue is None or catalogue.find(name) is not None:
        return name
    plans = ", ".join(catalogue.names)
    if asked:
        raise ImportRefused(f"there is no plan {name!r:.40} here; choose one of: {plans}")
    raise ImportRefused(
        f"the tenant's plan {name!r:.40} is not offered here (plans: {plans}): import it on "
        "one of them (tenants import --plan, or ?plan= over the API)"
    )


def _refuse_over(
    session: Session, tenant: Tenant, catalogue: Catalogue, tables: list[str], members: int
) -> None:
    """Refuse a tenant its plan here would not hold, as a downgrade would be refused.

    Every member of the document counts, invited ones too: each invite takes a seat when
    used, and an owner invited after the seats ran out could never join."""
    plan = catalogue.get(tenant.plan)
    over = over_limits(session, tenant_id=tenant.id, plan=plan, catalogue=catalogue, tables=tables)
    seats = plan.limit(MEMBERS)
    if seats is not None and members > seats and all(o["limit"] != MEMBERS for o in over):
        over.insert(0, {"limit": MEMBERS, "allowed": seats, "current": members})
    if over:
        used = "; ".join(f"{o['limit']}: {o['current']}, {o['allowed']} allowed" for o in over)
        raise ImportRefused(
            f"the tenant does not fit the plan {plan.name!r} ({used}): import it on a larger "
            "plan (tenants import --plan, or ?plan= over the API)"
        )


def _membership(tenant: Tenant, user: User, role: Role, entry: dict[str, Any]) -> Membership:
    joined = entry.get("joined_at")
    try:
        joined_at = aware_datetime(joined) if joined is not None else datetime.now(UTC)
    except BadValue as exc:
        raise ImportRefused(f"the member {user.email}'s joined_at: {exc}") from exc
    return Membership(tenant_id=tenant.id, user_id=user.id, role=role.value, joined_at=joined_at)


def _new_account(session: Session, email: str, entry: dict[str, Any]) -> User:
    """An account for ``email`` without a usable password: a password reset sets one."""
    try:
        checked_email(email)  # the account will be mailed: one mailbox, no headers
    except ValidationFailed:
        raise ImportRefused(f"a member's email is not one address: {email!r:.200}") from None
    user = User(
        email=email,
        password_hash=NO_PASSWORD,
        display_name=str(entry.get("display_name") or email.split("@")[0])[:200],
    )
    session.add(user)
    session.flush()
    return user


def _people(
    session: Session, doc: dict[str, Any], user_map: dict[int, int], *, create_accounts: bool
) -> list[PersonOutcome]:
    """Accounts for the people the rows name who are not members (``people``, absent from
    older documents): matched by email, else created with ``create_accounts``, else none
    (the rows' references to them are left empty, or refused where they cannot be). An
    erased account gets a placeholder of its own here, as erasure leaves one."""
    people = doc.get("people", [])
    if not isinstance(people, list):
        raise ImportRefused("the document's people are not a list; nothing imported")
    outcomes = []
    for entry in people:
        try:
            user_id, email = entry["user_id"], normalize_email(str(entry["email"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportRefused(f"a people entry is not valid: {entry!r:.200}") from exc
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id in user_map:
            raise ImportRefused(f"a people entry is not valid: {entry!r:.200}")
        user = session.scalar(select(User).where(User.email == email))
        if is_erased_address(email):  # an erased account: a placeholder of its own
            user = User(email=erased_address(), password_hash=NO_PASSWORD, display_name="")
            session.add(user)
            session.flush()
            status = "erased"
        elif user is not None and not user.is_erased:
            status = "matched"
        elif create_accounts:
            user, status = _new_account(session, email, entry), "created"
        else:
            outcomes.append(PersonOutcome(email, "none"))
            continue
        user_map[user_id] = user.id
        outcomes.append(PersonOutcome(email, status, user.id))
    return outcomes


def _members(
    session: Session,
    doc: dict[str, Any],
    tenant: Tenant,
    *,
    actor_id: int | None,
    invite_ttl: timedelta,
    on_invite: InviteHook | None,
    create_accounts: bool,
) -> tuple[list[MemberOutcome], dict[int, int]]:
    outcomes: list[MemberOutcome] = []
    user_map: dict[int, int] = {}
    seen: set[str] = set()
    for entry in doc["members"]:
        try:
            email = normalize_email(str(entry["email"]))
            role = Role(entry["role"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportRefused(f"a member entry is not valid: {entry!r:.200}") from exc
        if email in seen:
            raise ImportRefused(f"the member {email!r:.200} is listed twice")
        seen.add(email)
        user = session.scalar(select(User).where(User.email == email))
        if user is not None and not user.is_erased:
            session.add(_membership(tenant, user, role, entry))
            if isinstance(entry.get("user_id"), int):
                user_map[entry["user_id"]] = user.id
            outcomes.append(MemberOutcome(email, role.value, "matched", user_id=user.id))
            continue
        if create_accounts:
            user = _new_account(session, email, entry)
            session.add(_membership(tenant, user, role, entry))
            if isinstance(entry.get("user_id"), int):
                user_map[entry["user_id"]] = user.id
            outcomes.append(MemberOutcome(email, role.value, "created", user_id=user.id))
            continue
        try:
            checked_email(email)  # the invite is mailed to it, and bound to it
        except ValidationFailed:
            raise ImportRefused(f"a member's email is not one address: {email!r:.200}") from None
        invite, code = invites.pending_invite(
            session,
            tenant_id=tenant.id,
            email=email,
            role=role,
            ttl=invite_ttl,
            created_by=actor_id,
        )
        if on_invite is not None:
            on_invite(invite, code, tenant)
        outcomes.append(MemberOutcome(email, role.value, "invited", invite_code=code))
    if not any(o.role == Role.OWNER.value for o in outcomes):
        # Every tenant the API keeps has one; without, nobody could manage or delete it here.
        raise ImportRefused(
            "the document names no owner among its members: nobody could manage the tenant "
            "here; nothing imported"
        )
    return outcomes, user_map


def _batches_to_write(
    mapper: Mapper[Any],
    rows: list[dict[str, Any]],
    user_map: dict[int, int],
    described: dict[int, str],
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The rows in key order, a batch at a time: as the document should read after import
    (user ids translated), and as values to insert. Only a batch is copied at a time.
    ``described``: who the document says each user id is ("member" or "person")."""
    table = table_of(mapper)
    convert = {mapper.get_property_by_column(c).key: column_reader(c) for c in table.columns}
    # The model's own rules, as its routes apply them (``__import_check__``, optional).
    check: Callable[[dict[str, Any]], None] | None = getattr(
        mapper.class_, "__import_check__", None
    )
    users = user_columns(mapper)
    required = {k for k in users if not mapper.get_property(k).columns[0].nullable}
    ordered = _in_key_order(mapper, rows)
    for start in range(0, len(ordered), INSERT_BATCH):
        expected: list[dict[str, Any]] = []
        values: list[dict[str, Any]] = []
        for row in ordered[start : start + INSERT_BATCH]:
            value: dict[str, Any] = {}
            for key, item in row.items():  # a user id too is read before it is translated
                try:
                    value[key] = convert[key](item)
                except BadValue as exc:
                    raise ImportRefused(
                        f"{table.name}.{key} of row {_shown_id(row)}: {exc}; nothing imported",
                        details={"table": str(table.name), "field": key},
                    ) from exc
            translated = dict(row)
            for key in users:
                if value.get(key) is not None:
                    named, value[key] = value[key], user_map.get(value[key])
                    translated[key] = value[key]
                    if value[key] is None and key in required:
                        raise ImportRefused(_no_author(table.name, key, named, described))
            expected.append(translated)
            if check is not None:
                try:
                    check(value)
                except ValueError as exc:
                    raise ImportRefused(
                        f"{table.name} row {_shown_id(row)}: {exc}; nothing imported",
                        details={"table": str(table.name)},
                    ) from exc
            values.append(value)
        yield expected, values


def _no_author(table: str, column: str, user_id: int, described: dict[int, str]) -> str:
    """Why a reference that cannot be left empty names no account here, and what to do."""
    where = f"{table}.{column} names "
    flag = "import with create_accounts (`tenantry tenants import --create-accounts`)"
    kind = described.get(user_id)
    if kind == "member":
        return (
            f"{where}a member who has no account here, and cannot be left empty: {flag} "
            "to create their accounts, or have them sign up here first; nothing imported"
        )
    if kind == "person":
        return (
            f"{where}someone who is not a member (a former member, say) and has no account "
            f"here, and cannot be left empty: {flag} to create their account without a "
            "membership, or have them sign up here first; nothing imported"
        )
    return (
        f"{where}user {user_id}, whom the document does not describe (neither among its "
        "members nor its people: exported by an older tenantry?), and cannot be left "
        "empty: export the tenant again with this version; nothing imported"
    )


def _shown_id(row: dict[str, Any]) -> str:
    return f"{row.get('id')!r:.30}"


def import_tenant(
    session: Session,
    document: bytes | str | dict[str, Any],
    *,
    actor_id: int | None = None,
    invite_ttl: timedelta = timedelta(days=30),
    on_invite: InviteHook | None = None,
    create_accounts: bool = False,
    plan: str | None = None,
    catalogue: Catalogue | None = None,
) -> ImportResult:
    """Recreate the tenant of ``document`` in ``session``'s database; the caller commits.

    ``session`` must not be scoped to another tenant. On any failure nothing is
    left in the session's transaction worth committing: the caller rolls back
    (``Database.session()`` and the request session do).

    Args:
        document: an export document (``GET /api/export``, ``tenantry tenants export``).
        actor_id: the platform admin importing, recorded in the audit trail.
        invite_ttl: how long the invites of members without an account here stay valid.
        on_invite: called with (invite, code, tenant) for each invite, to send it.
        create_accounts: instead of inviting members who have no account here, create
            their account without a password (they set one with a password reset):
            they stay members at once and keep authorship of their rows. For moving
            a whole instance.
        plan: the plan the tenant gets here instead of the document's.
        catalogue: the plans offered here (default: the one installed on the session's
            factory, if any). With one, the tenant's plan must be in it and the tenant
            must fit it (members, row quotas), as a plan change must.

    Raises:
        ImportRefused: not an export, a newer format or schema, incomplete or
            changed since export, the rows do not verify after writing, or the plan
            is not offered here or is too small for the tenant.
        Conflict: a tenant with this id already exists here.
    """
    doc = document if isinstance(document, dict) else parse_document(document)
    _check_format(doc)
    mappers = {str(table_of(m).name): m for m in tenant_mappers()}
    _check_schema(session, doc, mappers)
    result = Verification()
    _check_integrity(doc, result)
    tenant = _tenant_of(doc["tenant"])
    catalogue = catalogue or catalogue_of(session)
    tenant.plan = _plan_here(plan or tenant.plan, catalogue, asked=bool(plan))
    if session.get(Tenant, tenant.id) is not None:
        raise Conflict(f"a tenant with id {tenant.id} already exists here (imported before?)")
    tenant.slug = _new_slug(session, str(tenant.slug))
    try:
        return _write(
            session,
            doc,
            tenant,
            mappers,
            result,
            actor_id,
            invite_ttl,
            on_invite,
            create_accounts,
            catalogue,
        )
    except (IntegrityError, DataError) as exc:
        raise ImportRefused(
            f"the database refused a row: {str(exc.orig).splitlines()[0]}; nothing imported"
        ) from exc


def _refused_row(table: str, exc: IntegrityError | DataError) -> str:
    """The table whose row the database refused, and why in the importer's terms."""
    reason = str(exc.orig).splitlines()[0]
    state = str(getattr(exc.orig, "sqlstate", "") or "")
    hint = ""
    if state == "23503" or "FOREIGN KEY" in reason:
        hint = (
            "; a row refers to one neither the document nor this database has (the shared "
            "reference data the exporting instance had must be here first)"
        )
    return f"{table}: the database refused a row: {reason}{hint}; nothing imported"


def _write(
    session: Session,
    doc: dict[str, Any],
    tenant: Tenant,
    mappers: dict[str, Mapper[Any]],
    result: Verification,
    actor_id: int | None,
    invite_ttl: timedelta,
    on_invite: InviteHook | None,
    create_accounts: bool,
    catalogue: Catalogue | None,
) -> ImportResult:
    tenant_id = tenant.id
    session.add(tenant)
    session.flush()
    outcomes, user_map = _members(
        session,
        doc,
        tenant,
        actor_id=actor_id,
        invite_ttl=invite_ttl,
        on_invite=on_invite,
        create_accounts=create_accounts,
    )
    people = _people(session, doc, user_map, create_accounts=create_accounts)
    described = {m["user_id"]: "member" for m in doc["members"] if isinstance(m, dict)}
    described.update((p["user_id"], "person") for p in doc.get("people", []))
    rows: dict[str, int] = {}
    ctx = TenantContext(TenantId(tenant_id), UserId(actor_id) if actor_id else None, Role.OWNER)
    with tenant_scope(ctx):
        order = [t.name for t in Base.metadata.sorted_tables if t.name in doc["tables"]]
        expected: dict[str, ArrayWriter] = {}
        for name in order:
            mapper = mappers[name]
            # Compared in key order, as the export writes them.
            expected[name] = writer = ArrayWriter()
            batches = _batches_to_write(mapper, doc["tables"][name], user_map, described)
            for wanted, values in batches:
                writer.chunk(wanted)
                for value in values:
                    value["tenant_id"] = tenant_id
                try:
                    session.execute(insert(mapper.class_), values)
                except (IntegrityError, DataError) as exc:
                    raise ImportRefused(_refused_row(name, exc)) from exc
            rows[name] = writer.count
        session.flush()
        for name in order:
            stored = ArrayWriter()
            for batch in key_ordered_batches(session, mappers[name]):
                stored.chunk(batch)
            want = expected[name]
            result.add(
                f"rows:{name}",
                stored.count == want.count,
                f"{want.count} in the document, {stored.count} stored",
            )
            same = stored.checksum == want.checksum
            result.add(f"checksum:{name}", same, "identical" if same else "DIFFERENT")
        if catalogue is not None:
            _refuse_over(session, tenant, catalogue, order, len(doc["members"]))
    members = session.scalar(
        select(Membership.user_id).where(Membership.tenant_id == tenant_id).limit(1)
    )
    result.add(
        "members",
        len(outcomes) == len(doc["members"]),
        f"{sum(o.status == 'matched' for o in outcomes)} matched to accounts here, "
        f"{sum(o.status == 'created' for o in outcomes)} accounts created, "
        f"{sum(o.status == 'invited' for o in outcomes)} invited"
        + (
            ""
            if members is not None or not outcomes
            else "; nobody is a member until an invite is used"
        ),
    )
    if not result.ok:
        failed = ", ".join(c.name for c in result.checks if not c.ok)
        raise ImportRefused(f"the imported rows do not verify ({failed}); nothing imported")
    audit.record(
        session,
        "tenant.imported",
        tenant_id=tenant_id,
        actor_id=actor_id,
        rows=sum(rows.values()),
        matched=sum(o.status == "matched" for o in outcomes),
        created=sum(o.status == "created" for o in outcomes),
        invited=sum(o.status == "invited" for o in outcomes),
    )
    return ImportResult(tenant_id, tenant.slug, tenant.plan, rows, outcomes, people, result)


def _in_key_order(mapper: Mapper[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [
        mapper.get_property_by_column(c).key
        for c in table_of(mapper).primary_key.columns
        if c.key != "tenant_id"
    ]
    try:
        return sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    except (KeyError, TypeError) as exc:  # a missing or mistyped key
        raise ImportRefused(
            f"{table_of(mapper).name}: every row needs its key ({', '.join(keys)})"
        ) from exc
