"""Documents an import must refuse with a clear message, writing nothing.

Each case edits a valid document (and, where the edit is meant to look intact, recomputes
its summary as an export would), then imports it into SQLite: the backend that would
otherwise store text in an INTEGER column and hand it back unchanged to the read-back
verification.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import meterbook.models  # noqa: F401 - maps the tables the document names
from tenantry.db import Database
from tenantry.export import FORMAT, ArrayWriter, schema_revisions
from tenantry.models import Invite, Tenant, User
from tenantry.tenant_import import ImportRefused, import_tenant
from tenantry_server.cli import app as cli

Edit = Callable[[dict[str, Any]], object]


def _reading(i: int) -> dict[str, Any]:
    return {
        "read_at": f"2024-10-27T0{i}:30:00+00:00",
        "meter_wh": 1000 * (i + 1),
        "note": "=SUM(A1) 😀",
        "is_replacement": False,
        "created_by": 7,
        "created_at": "2026-12-01T10:00:00.123456+00:00",
        "id": 1000 + i,
    }


def _voucher() -> dict[str, Any]:
    return {
        "purchased_on": "2024-02-29",
        "amount_minor": 15000,
        "currency": "ZAR",
        "energy_wh": 100500,
        "token_number": "",
        "vendor": "Shop",
        "notes": "",
        "created_by": 7,
        "created_at": "2026-12-01T10:00:00+00:00",
        "id": 2000,
    }


def summed(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary an export would write for the document's tables as they now are."""
    rows, sums = {}, {}
    for name, table in doc["tables"].items():
        writer = ArrayWriter()
        writer.chunk(table)
        rows[name], sums[name] = writer.count, writer.checksum
    doc["summary"] = {"members": len(doc["members"]), "rows": rows, "checksums": sums}
    return doc


def document() -> dict[str, Any]:
    tables = {"readings": [_reading(i) for i in range(3)], "vouchers": [_voucher()]}
    return summed(
        {
            "format": FORMAT,
            "schema": {"revisions": [], "tables": {name: [] for name in tables}},
            "tenant": {
                "id": str(uuid.uuid4()),
                "slug": "casa",
                "name": "Casa 🏠",
                "kind": "family",
                "plan": "free",
                "settings": {},
                "created_at": "2026-01-01T00:00:00+00:00",
            },
            "members": [
                {
                    "user_id": 7,
                    "email": "ana@example.com",
                    "display_name": "Ana",
                    "role": "owner",
                    "joined_at": "2026-01-01T00:00:00+00:00",
                }
            ],
            "tables": tables,
            "summary": {},
        }
    )


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "target.sqlite3"
    shutil.copy(template_db, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def _nothing_written(db: Database) -> None:
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 0
        assert session.scalar(select(func.count()).select_from(Invite)) == 0
        assert session.scalar(select(func.count()).select_from(User)) == 0


def _refused(db: Database, doc: Any, said: str, **options: Any) -> str:
    """The message ``import_tenant`` refuses ``doc`` with (matching ``said``), after
    checking that nothing was written."""
    with pytest.raises(ImportRefused, match=said) as refused, db.session() as session:
        import_tenant(session, doc, **options)
    _nothing_written(db)
    return refused.value.message


def _row(table: str, **values: Any) -> Edit:
    return lambda doc: doc["tables"][table][0].update(values)


# Values of the wrong type or size: SQLite stored these and the verification passed.
WRONG_VALUES: dict[str, tuple[Edit, str]] = {
    "text in a whole-number column": (_row("readings", meter_wh="lots"), "readings.meter_wh"),
    "a fraction in a whole-number column": (_row("readings", meter_wh=1.5), "whole number"),
    "a number beyond 64 bits": (_row("readings", meter_wh=2**64 - 1), "out of range"),
    "an id beyond 64 bits": (_row("readings", id=2**63), "readings.id"),
    "a date-time without its offset": (
        _row("readings", read_at="2024-10-27T02:30:00"),
        "UTC offset",
    ),
    "a number for a date-time": (_row("readings", read_at=12345), "ISO 8601 date-time"),
    "an object for text": (_row("readings", note={"a": 1}), "expected text"),
    "a list for text": (_row("readings", note=[1]), "expected text"),
    "null where a value is required": (_row("readings", note=None), "null"),
    "text for true or false": (_row("readings", is_replacement="yes"), "true or false"),
    "text longer than its column": (_row("vouchers", currency="EUROS"), "longer than 3"),
    "a NUL character": (_row("vouchers", vendor="a\x00b"), "NUL"),
    "a day that does not exist": (_row("vouchers", purchased_on="2024-02-30"), "ISO 8601 date"),
    "a name for a user id": (_row("vouchers", created_by="ana"), "vouchers.created_by"),
}


@pytest.mark.parametrize("case", WRONG_VALUES, ids=list(WRONG_VALUES))
def test_a_value_its_column_cannot_hold_is_refused_naming_it(db: Database, case: str) -> None:
    edit, said = WRONG_VALUES[case]
    doc = document()
    edit(doc)
    assert "nothing imported" in _refused(db, summed(doc), said)


# Values of the right type that the app's routes refuse (the model's ``__import_check__``):
# a reading at 9999-12-31T23:59:59.999999 imported, and the household's dashboard answered
# 500 from then on (SQLite's date functions give NULL for it).
BROKEN_RULES: dict[str, tuple[Edit, str]] = {
    "a reading at the end of time": (
        _row("readings", read_at="9999-12-31T23:59:59.999999+00:00"),
        "read_at: a reading cannot be in the future",
    ),
    "a reading before 1900": (
        _row("readings", read_at="0001-01-01T00:00:00+00:00"),
        "read_at: a reading cannot be before 1900",
    ),
    "a negative meter": (_row("readings", meter_wh=-1), "meter_kwh: must not be negative"),
    "a purchase in the future": (_row("vouchers", purchased_on="9999-12-31"), "purchased_on"),
    "a negative amount": (_row("vouchers", amount_minor=-100), "amount: must not be negative"),
    "no currency": (_row("vouchers", currency="XYZ"), "currency: use an ISO 4217"),
    # Text the routes (and CSV) refuse: imported, a 100,000-character note and an escape.
    "a note longer than the routes take": (
        _row("readings", note="n" * 2001),
        "note: has at most 2000 characters",
    ),
    "a control character in a note": (
        _row("vouchers", notes="bell\x1b[31m"),
        "notes: must not contain control characters",
    ),
}


@pytest.mark.parametrize("case", BROKEN_RULES, ids=list(BROKEN_RULES))
def test_a_row_the_apps_rules_refuse_is_refused(db: Database, case: str) -> None:
    edit, said = BROKEN_RULES[case]
    doc = document()
    edit(doc)
    message = _refused(db, summed(doc), said)
    assert message.startswith(("readings row 1000: ", "vouchers row 2000: "))


def _tenant(**values: Any) -> Edit:
    return lambda doc: doc["tenant"].update(values)


def _member(**values: Any) -> Edit:
    return lambda doc: doc["members"][0].update(values)


# The tenant and its members: a traceback, a 500, or a name "None" before.
WRONG_HEADERS: dict[str, tuple[Edit, str]] = {
    "a created_at that is no date": (_tenant(created_at="soon"), "created_at"),
    "a created_at that is a number": (_tenant(created_at=5), "created_at"),
    "a created_at without offset": (_tenant(created_at="2024-01-01T00:00:00"), "UTC offset"),
    "no name": (_tenant(name=None), "name"),
    "an empty name": (_tenant(name=" "), "name"),
    "a name longer than the API allows": (_tenant(name="N" * 201), "at most 200"),
    "a name of two lines": (_tenant(name="a\nb"), "one line"),
    "an unknown kind": (_tenant(kind="spaceship"), "kind"),
    "a joined_at that is no date": (_member(joined_at="never"), "joined_at"),
    "a joined_at without offset": (_member(joined_at="2024-01-01T00:00:00"), "UTC offset"),
    "an invalid member email": (_member(email="not-an-email"), "not one address"),
    "a member twice": (lambda doc: doc["members"].append(dict(doc["members"][0])), "twice"),
    "no owner": (_member(role="admin"), "no owner"),
    "no members": (lambda doc: doc["members"].clear(), "no owner"),
}


# An invited member's joined_at is not read (they join when they accept): those cases
# apply to created accounts only.
HEADER_CASES = [
    pytest.param(case, create, id=f"{case}-{'created' if create else 'invited'}")
    for case in WRONG_HEADERS
    for create in (False, True)
    if create or "joined_at" not in case
]


@pytest.mark.parametrize(("case", "create_accounts"), HEADER_CASES)
def test_a_bad_tenant_or_member_entry_is_refused(
    db: Database, case: str, create_accounts: bool
) -> None:
    edit, said = WRONG_HEADERS[case]
    doc = document()
    edit(doc)
    _refused(db, doc, said, create_accounts=create_accounts)


# A table cut from the file, or a summary that cannot vouch for a table: imported without
# the table, or with the edit, before.
INCOMPLETE: dict[str, tuple[Edit, str]] = {
    "a table cut from the file": (lambda doc: doc["tables"].pop("vouchers"), "vouchers"),
    "no checksums": (lambda doc: doc["summary"].pop("checksums"), "no row counts and checksums"),
    "no row counts": (lambda doc: doc["summary"].pop("rows"), "no row counts and checksums"),
    "a table without its checksum": (
        lambda doc: doc["summary"]["checksums"].pop("readings"),
        "without a count and checksum: readings",
    ),
}


@pytest.mark.parametrize("case", INCOMPLETE, ids=list(INCOMPLETE))
def test_a_document_whose_summary_cannot_vouch_for_it_is_refused(db: Database, case: str) -> None:
    edit, said = INCOMPLETE[case]
    doc = document()
    edit(doc)
    doc["tables"]["readings"][0]["note"] = "edited after export"  # unseen without a checksum
    _refused(db, doc, said)


CUTS: dict[str, Callable[[bytes], int]] = {
    "inside an emoji": lambda raw: raw.index("😀".encode()) + 2,
    "half way": lambda raw: len(raw) // 2,
    "the last brace": lambda raw: len(raw) - 1,
}


@pytest.mark.parametrize("cut", CUTS, ids=list(CUTS))
def test_a_file_cut_short_is_said_to_be(db: Database, cut: str) -> None:
    """Cut inside the emoji of a note, the parser said 'str is not valid UTF-8'."""
    raw = orjson.dumps(document())
    _refused(db, raw[: CUTS[cut](raw)], "cut short or damaged")


def test_a_table_the_database_has_but_no_model_maps_asks_for_models(db: Database) -> None:
    """Without --models, an app's tables were said to come from "a newer schema" than a
    database that has them: the way out is to load the app's models."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE app_widgets (tenant_id TEXT, id INTEGER, name TEXT)")
    doc = document()
    doc["tables"]["app_widgets"] = [{"id": 1, "name": "w"}]
    doc["schema"]["tables"]["app_widgets"] = ["id", "name"]
    message = _refused(db, summed(doc), "no loaded model maps")
    assert message.startswith("app_widgets is a table of this database")
    assert "--models" in message and "newer schema" not in message


def test_an_unknown_table_from_this_very_schema_is_not_said_to_be_newer(db: Database) -> None:
    """An outside tester added a table to an export: the refusal said the document came
    from a newer schema than this database's, naming the same revisions twice."""
    doc = document()
    with db.session() as session:
        doc["schema"]["revisions"] = schema_revisions(session)
    doc["tables"]["evil"] = []
    message = _refused(db, summed(doc), "table evil is unknown here")
    assert "newer" not in message and "changed after export" in message


def test_the_untouched_document_imports(db: Database) -> None:
    """The cases above fail for their edit alone."""
    with db.session() as session:
        result = import_tenant(session, document(), create_accounts=True)
    assert result.rows == {"readings": 3, "vouchers": 1}
    assert result.verification.ok


def test_the_command_line_says_what_is_wrong_with_a_value(db: Database, tmp_path: Path) -> None:
    """Once 'database error: (builtins.ValueError) …' with exit 2, or an OverflowError
    traceback: the document's fault, said as such, exit 1."""
    runner = CliRunner()
    for edit in (
        _row("readings", read_at="2024-10-27T02:30:00"),
        _row("readings", meter_wh=2**63),
        _tenant(created_at="soon"),
    ):
        doc = document()
        edit(doc)
        file = tmp_path / "edited.json"
        file.write_bytes(orjson.dumps(summed(doc)))
        result = runner.invoke(cli, ["tenants", "import", str(file), "--db", str(db.engine.url)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "database error" not in result.output and "Traceback" not in result.output
        assert "tenantry tenants: " in result.output
    _nothing_written(db)


def test_the_slug_of_the_site_itself_gets_a_suffix(db: Database) -> None:
    """``www`` imported as it was: /t/www, a tenant no subdomain could reach."""
    doc = document()
    doc["tenant"]["slug"] = "www"
    with db.session() as session:
        result = import_tenant(session, doc, create_accounts=True)
    assert result.slug.startswith("www-") and len(result.slug) > len("www-")


def _three_members(doc: dict[str, Any]) -> None:
    """Its owner and two members with no account here: all three would be invited."""
    doc["members"] += [
        {**doc["members"][0], "user_id": 8 + i, "email": f"m{i}@example.com", "role": "member"}
        for i in range(2)
    ]


def _many_vouchers(count: int) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc["tables"]["vouchers"] = [_voucher() | {"id": 2000 + i} for i in range(count)]

    return edit


# What a plan here must be, with meterbook's plans offered (Free holds 500 vouchers).
PLAN_REFUSALS: dict[str, tuple[Edit, dict[str, Any], str]] = {
    "a plan this instance does not offer": (
        _tenant(plan="enterprise"),
        {},
        r"the tenant's plan 'enterprise' is not offered here \(plans: free, household, pro\)",
    ),
    "a plan asked for that does not exist": (
        lambda doc: None,
        {"plan": "gold"},
        "there is no plan 'gold' here; choose one of: free, household, pro",
    ),
    "more members than the plan seats, invited ones too": (
        _three_members,
        {"create_accounts": False},
        r"does not fit the plan 'free' \(members: 3, 2 allowed\)",
    ),
    "more rows than the plan holds": (
        _many_vouchers(501),
        {},
        r"does not fit the plan 'free' \(rows.vouchers: 501, 500 allowed\)",
    ),
}


@pytest.mark.parametrize("case", PLAN_REFUSALS, ids=list(PLAN_REFUSALS))
def test_a_tenant_its_plan_here_cannot_hold_is_refused(db: Database, case: str) -> None:
    """Imported as it was, an 'enterprise' tenant ran on the default plan's limits while
    its row said 'enterprise', and a Free tenant could arrive holding any number of rows."""
    from meterbook.plans import CATALOGUE

    edit, options, said = PLAN_REFUSALS[case]
    doc = document()
    edit(doc)
    options = {"create_accounts": True, **options}
    message = _refused(db, summed(doc), said, catalogue=CATALOGUE, **options)
    assert "--plan" in message or "choose one of" in message


def test_a_tenant_is_imported_on_the_plan_asked_for(db: Database, tmp_path: Path) -> None:
    doc = document()
    _many_vouchers(501)(doc)
    doc["tenant"]["plan"] = "enterprise"
    file = tmp_path / "big.json"
    file.write_bytes(orjson.dumps(summed(doc)))
    url = str(db.engine.url)
    runner = CliRunner()  # the server's command: meterbook's plans are the ones offered
    refused = runner.invoke(cli, ["tenants", "import", str(file), "--db", url])
    assert refused.exit_code == 1 and "'enterprise' is not offered here" in refused.output
    empty = runner.invoke(cli, ["tenants", "import", str(file), "--db", url, "--plan", ""])
    assert empty.exit_code == 1 and "--plan: name a plan" in empty.output
    result = runner.invoke(
        cli, ["tenants", "import", str(file), "--db", url, "--plan", "household"]
    )
    assert result.exit_code == 0, result.output
    assert "on plan household: 504 rows" in result.output  # 3 readings, 501 vouchers
    with db.session() as session:
        assert session.scalars(select(Tenant.plan)).all() == ["household"]
    misspelt = tmp_path / "plans.toml"  # as `serve` refuses it
    misspelt.write_text('[[plans]]\nname = "solo"\n[plans.limits]\n"rows.readngs" = 5\n')
    refused = runner.invoke(
        cli, ["tenants", "import", str(file), "--db", url, "--plans", str(misspelt)]
    )
    assert refused.exit_code == 1 and "limits.rows.readngs: no model counts" in refused.output
