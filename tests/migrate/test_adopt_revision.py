"""After tenantize: the app's first revision adopts the converted tables (``--adopt``).

The flow docs/tenantize.md gives a user: convert seed 002's workflows database, write
models describing the converted tables, ``tenantry migrations revision --adopt``, and
``tenantry migrate --app``; the same revision must create the tables on an empty
database, and a later revision against the converted one must find nothing to change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.migrate import seeds
from tests.migrate.test_seed_schemas import convert, mapping_of, owner_view
from tests.support.cli import tenantry

MODELS = '''"""seed 002's tables as tenantize converted them."""
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models import Base, TenantScoped, tenant_foreign_key

Ref = BigInteger().with_variant(Integer(), "sqlite")


class Credential(TenantScoped, Base):
    __tablename__ = "credentials"
    __table_args__ = (
        Index("ix_credentials_tenant_id_user_id", "tenant_id", "user_id"),
        Index("uq_credentials_id", "id", unique=True),  # for logs' plain reference
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("tenantry_users.id", ondelete="CASCADE"))
    service_name: Mapped[str] = mapped_column(Text)
    encrypted_key: Mapped[str] = mapped_column(Text)


class Workflow(TenantScoped, Base):
    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_tenant_id_user_id", "tenant_id", "user_id"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenantry_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    trigger_type: Mapped[str | None] = mapped_column(Text)
    action_type: Mapped[str | None] = mapped_column(Text)
    config_json: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("TRUE"))


class Log(TenantScoped, Base):
    __tablename__ = "logs"
    __table_args__ = (
        tenant_foreign_key("workflow_id", "workflows", ondelete="CASCADE", onupdate="CASCADE"),
        Index("ix_logs_tenant_id_workflow_id", "tenant_id", "workflow_id"),
        Index("ix_logs_tenant_id_credential_id", "tenant_id", "credential_id"),
    )
    workflow_id: Mapped[int | None] = mapped_column(Ref)
    # kept plain on SQLite: a tenant-safe key's SET NULL would null tenant_id too
    credential_id: Mapped[int | None] = mapped_column(
        Ref, ForeignKey("credentials.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
'''

TABLES = ("logs", "workflows", "credentials")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wfmodels.py").write_text(MODELS)
    return tmp_path


def legacy_workflows(url: str) -> None:
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    users = [
        {"id": i, "email": f"u{i}@example.com", "password_hash": seeds.argon2_hash("pw")}
        for i in (1, 2)
    ]
    seeds.build(
        url,
        seeds.workflows_ddl(dialect),
        {
            "users": users,
            "workflows": [{"id": i, "user_id": i, "name": f"flow {i}"} for i in (1, 2)],
            "credentials": [{"id": 1, "user_id": 1, "service_name": "mail", "encrypted_key": "k"}],
            "logs": [
                {"id": 1, "workflow_id": 1, "credential_id": 1, "status": "ok", "message": "m"},
                {"id": 2, "workflow_id": 2, "credential_id": None, "status": "ok", "message": None},
            ],
        },
    )


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with owner_view(engine) as conn:
            return {
                t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one() for t in TABLES
            }
    finally:
        engine.dispose()


def converted_and_adopted(project: Path, url: str) -> dict[str, int]:
    """Seed 002's database converted, and the app's first revision (``--adopt``) applied."""
    legacy_workflows(url)
    engine = create_engine(url)
    try:
        convert(engine, mapping_of(seeds.WORKFLOWS_MAPPING), project / "backup")
    finally:
        engine.dispose()
    before = counts(url)
    assert before == {"logs": 2, "workflows": 2, "credentials": 1}
    tenantry("migrations", "init", "migrations", "--models", "wfmodels")
    tenantry("migrate", "--db", url, "--app", "migrations")
    tenantry("migrations", "revision", "-m", "first", "--adopt", "--dir", "migrations", "--db", url)
    [first] = (project / "migrations" / "versions").glob("*_first.py")
    # without --adopt the revision held no create_table, and failed on an empty database
    assert "if not adoptable('workflows', [" in first.read_text()
    tenantry("migrate", "--db", url, "--app", "migrations")
    assert counts(url) == before  # adopted: the rows are the converted ones
    return before


def test_the_first_revision_adopts_converted_tables_and_creates_them_elsewhere(
    project: Path, legacy_url: str
) -> None:
    converted_and_adopted(project, legacy_url)
    said = tenantry(
        "migrations", "revision", "-m", "again", "--adopt", "--dir", "migrations",
        "--db", legacy_url, code=1,
    )  # fmt: skip
    assert "--adopt writes the app's first revision" in said  # its downgrade drops tables
    empty = f"sqlite:///{project / 'empty.db'}"
    tenantry("migrate", "--db", empty, "--app", "migrations")
    fresh = create_engine(empty)
    try:
        assert set(TABLES) <= set(inspect(fresh).get_table_names())
    finally:
        fresh.dispose()


def test_models_describe_the_converted_sqlite_tables_and_a_plain_key_is_made_safe(
    project: Path,
) -> None:
    url = f"sqlite:///{project / 'workflows.db'}"
    before = converted_and_adopted(project, url)
    tenantry("migrations", "revision", "-m", "same", "--dir", "migrations", "--db", url)
    [same] = (project / "migrations" / "versions").glob("*_same.py")
    # indexes, the kept plain key, ON UPDATE CASCADE: nothing to change
    body = same.read_text().split("def upgrade() -> None:")[1]
    assert "op." not in body, body
    same.unlink()

    # docs/tenantize.md: make the plain key tenant-safe in a migration. It is dropped by
    # its name (tenantize left it unnamed on SQLite, and the revision failed).
    models = project / "wfmodels.py"
    models.write_text(
        models.read_text()
        .replace('Ref, ForeignKey("credentials.id", ondelete="SET NULL")', "Ref")
        .replace(
            "    __table_args__ = (\n        tenant_foreign_key(",
            '    __table_args__ = (\n        tenant_foreign_key("credential_id", "credentials"),'
            "\n        tenant_foreign_key(",
        )
    )
    tenantry("migrations", "revision", "-m", "safe", "--dir", "migrations", "--db", url)
    tenantry("migrate", "--db", url, "--app", "migrations")
    engine = create_engine(url)
    try:
        keys = {tuple(fk["constrained_columns"]) for fk in inspect(engine).get_foreign_keys("logs")}
    finally:
        engine.dispose()
    assert ("tenant_id", "credential_id") in keys and ("credential_id",) not in keys, keys
    assert counts(url) == before
