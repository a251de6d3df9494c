"""A revision that makes SQLite copy a parent table keeps every row referring to it.

Alembic's batch mode changes an SQLite table by copying it and dropping the original.
With foreign keys on, that ``DROP`` deleted every child row through ``ON DELETE
CASCADE`` (an outside tester's appointments and invoices, in every tenant), and the
migration said nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.cli import tenantry

MODELS = '''"""A parent and a child that refers to it (ON DELETE CASCADE)."""
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.models import Base, TenantScoped, tenant_foreign_key


class Pet(TenantScoped, Base):
    __tablename__ = "rb_pets"
    name: Mapped[str] = mapped_column(String(40))


class Visit(TenantScoped, Base):
    __tablename__ = "rb_visits"
    __table_args__ = (tenant_foreign_key("pet_id", "rb_pets"),)
    pet_id: Mapped[int]
    note: Mapped[str] = mapped_column(String(40))
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rbmodels.py").write_text(MODELS)
    return tmp_path


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            pets = conn.execute(text("SELECT count(*) FROM rb_pets")).scalar_one()
            visits = conn.execute(text("SELECT count(*) FROM rb_visits")).scalar_one()
            return pets, visits
    finally:
        engine.dispose()


def seeded(project: Path) -> str:
    url = f"sqlite:///{project / 'app.db'}"
    tenantry("migrations", "init", "migrations", "--models", "rbmodels")
    tenantry("migrate", "--db", url, "--app", "migrations")
    tenantry("migrations", "revision", "-m", "first", "--dir", "migrations", "--db", url)
    tenantry("migrate", "--db", url, "--app", "migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for n in range(2):
                tenant = uuid.uuid4().hex
                conn.execute(
                    text(
                        "INSERT INTO tenantry_tenants (id, slug, name, kind, plan, status,"
                        " settings, created_at, updated_at) VALUES (:t, :s, 'c', 'team', 'free',"
                        " 'active', '{}', '2026-01-01', '2026-01-01')"
                    ),
                    {"t": tenant, "s": f"clinic-{n}"},
                )
                conn.execute(
                    text("INSERT INTO rb_pets (tenant_id, id, name) VALUES (:t, 1, 'Rex')"),
                    {"t": tenant},
                )
                conn.execute(
                    text(
                        "INSERT INTO rb_visits (tenant_id, id, pet_id, note) VALUES (:t, 1, 1, 'x')"
                    ),
                    {"t": tenant},
                )
    finally:
        engine.dispose()
    assert counts(url) == (2, 2)
    return url


@pytest.mark.parametrize("dangling", [False, True])
def test_a_revision_rebuilding_a_parent_table_keeps_its_children(
    project: Path, dangling: bool
) -> None:
    url = seeded(project)
    if dangling:  # a reference broken before (a plain engine's foreign keys are off)
        engine = create_engine(url)
        with engine.begin() as conn:
            tenant = conn.execute(text("SELECT tenant_id FROM rb_pets LIMIT 1")).scalar_one()
            conn.execute(
                text("INSERT INTO rb_visits (tenant_id, id, pet_id, note) VALUES (:t, 2, 99, 'y')"),
                {"t": tenant},
            )
        engine.dispose()
    models = project / "rbmodels.py"
    models.write_text(
        models.read_text()
        .replace(
            '    __tablename__ = "rb_pets"\n',
            '    __tablename__ = "rb_pets"\n'
            "    __table_args__ = (\n"
            '        UniqueConstraint("tenant_id", "chip", name="uq_rb_pets_chip"),\n    )\n'
            "    chip: Mapped[str | None] = mapped_column(String(15), nullable=True)\n",
        )
        .replace("import ForeignKey, String", "import ForeignKey, String, UniqueConstraint")
    )
    tenantry("migrations", "revision", "-m", "chip", "--dir", "migrations", "--db", url)
    [chip] = (project / "migrations" / "versions").glob("*_chip.py")
    assert "batch_alter_table('rb_pets'" in chip.read_text()  # the table is copied
    tenantry("migrate", "--db", url, "--app", "migrations")
    # was (2, 0): the children of every tenant were deleted; a reference broken before
    # the migration is not its doing, and does not stop it
    assert counts(url) == (2, 3 if dangling else 2)


def test_a_revision_that_would_leave_a_row_referring_to_nothing_is_rolled_back(
    project: Path,
) -> None:
    url = seeded(project)
    tenantry("migrations", "revision", "-m", "drop", "--dir", "migrations", "--db", url, "--empty")
    [drop] = (project / "migrations" / "versions").glob("*_drop.py")
    drop.write_text(
        drop.read_text().replace(
            "def upgrade() -> None:\n",
            "def upgrade() -> None:\n    op.execute('DELETE FROM rb_pets')\n",
            1,
        )
    )
    said = tenantry("migrate", "--db", url, "--app", "migrations", code=1)
    assert "would leave 2 row(s) referring to rows that do not exist (rb_visits -> rb_pets)" in said
    assert "nothing was applied" in said and "Traceback" not in said
    assert counts(url) == (2, 2)
