"""Apply migrations programmatically: the core's, plus those of every plugin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

CORE_VERSIONS = Path(__file__).parent / "versions"


def alembic_config(engine: Engine, extra_version_dirs: Sequence[Path] = ()) -> Config:
    """An Alembic config bound to ``engine``; ``extra_version_dirs`` holds plugins' migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    locations = [str(CORE_VERSIONS), *(str(p) for p in extra_version_dirs)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    # configparser interpolates '%': escape it (percent-encoded passwords, socket paths).
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine, extra_version_dirs: Sequence[Path] = ()) -> None:
    """Bring the schema to the newest revision of every branch."""
    cfg = alembic_config(engine, extra_version_dirs)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def migrate_database(
    engine: Engine,
    extra_version_dirs: Sequence[Path] = (),
    *,
    app_role: str | None = None,
    app_dir: Path | None = None,
) -> None:
    """Upgrade as the owner and, on PostgreSQL, grant ``app_role`` its row privileges.

    ``app_dir`` is an app's migrations directory (``tenantry migrations init``):
    its ``env.py`` runs the core's revisions and the app's. The grants include
    the owner's default privileges, so tables that later migrations create are
    covered too.
    """
    if app_dir is not None:
        from tenantry.migrations.project import upgrade_project

        upgrade_project(engine, app_dir, extra_version_dirs)
    else:
        upgrade(engine, extra_version_dirs)
    if app_role and engine.dialect.name == "postgresql":
        from tenantry.rls.grants import grant_app_role

        with engine.begin() as conn:
            grant_app_role(conn, app_role)
