"""Apply migrations programmatically: the core's, plus those of every plugin."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from tenantry.sqlite import broken_references

CORE_VERSIONS = Path(__file__).parent / "versions"


def check_version_dirs(version_dirs: Sequence[Path]) -> None:
    """Refuse an app's migrations directory (it holds the ``env.py`` that ``tenantry
    migrations init`` writes) among version directories: Alembic cannot use one as such,
    and fails deep inside (RecursionError) when asked to.

    Raises:
        ValueError: naming the directory and where it belongs.
    """
    for d in version_dirs:
        if (Path(d) / "env.py").is_file():
            raise ValueError(
                f"{d} is an app's migrations directory (it has env.py): pass it as the "
                "app directory (app_dir, --app), not as a version directory"
            )


def alembic_config(engine: Engine, extra_version_dirs: Sequence[Path] = ()) -> Config:
    """An Alembic config bound to ``engine``; ``extra_version_dirs`` holds plugins' migrations.

    Raises:
        ValueError: one of them is an app's migrations directory (``check_version_dirs``).
    """
    check_version_dirs(extra_version_dirs)
    cfg = _config(extra_version_dirs)
    # configparser interpolates '%': escape it (percent-encoded passwords, socket paths).
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


class MigrationRefused(Exception):
    """The migrations did not run (or were rolled back); the message says why and what to do."""


class BrokenReferences(MigrationRefused):
    """A migration would leave rows referring to rows that do not exist; it was rolled back."""


class NewerDatabase(MigrationRefused):
    """The database is at a revision this release has no file for: a newer one migrated it."""


@contextmanager
def migrating(engine: Engine, *, check_references: bool = True) -> Iterator[Connection]:
    """A connection in one transaction for migrations, committed when the block ends.

    On SQLite, foreign keys are off while the migrations run: Alembic's batch mode
    changes a table by copying it and dropping the original, and with them on, that
    ``DROP`` deletes every row referring to it through ``ON DELETE CASCADE`` (all of a
    parent table's children, in every tenant) or fails. Off, a revision's ``DELETE``
    cascades no more either: the references are checked before the commit instead, and
    a migration that leaves one broken is rolled back. References broken before it (a
    legacy database's) are not its doing: only new ones count. ``check_references``
    false: the caller verifies them itself (tenantize).

    Raises:
        BrokenReferences: naming the tables whose rows would refer to nothing.
    """
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        # A PRAGMA foreign_keys inside a transaction does nothing: set it on the
        # driver's connection before the transaction begins, and put it back after.
        raw = conn.connection.driver_connection
        assert raw is not None
        was = raw.execute("PRAGMA foreign_keys").fetchone()[0]
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                before = _broken_references(conn) if check_references else Counter()
                yield conn
                if check_references:
                    new = _broken_references(conn) - before
                    if new:
                        pairs = ", ".join(f"{t} -> {p}" for t, p in sorted(new)[:5])
                        raise BrokenReferences(
                            f"the migration would leave {new.total()} row(s) referring to "
                            f"rows that do not exist ({pairs}); nothing was applied"
                        )
        finally:
            raw.execute(f"PRAGMA foreign_keys = {int(was)}")


def _broken_references(conn: Connection) -> Counter[tuple[str, str]]:
    """How many rows of each (table, referenced table) refer to no row (SQLite)."""
    return Counter((table, parent) for table, _rowid, parent in broken_references(conn))


def up_to_date(engine: Engine, cfg: Config) -> bool:
    """Whether the database is at every head of ``cfg``'s revisions (nothing to apply)."""
    return current_heads(engine) == set(ScriptDirectory.from_config(cfg).get_heads())


def upgrade_to_heads(engine: Engine, cfg: Config, *, check_references: bool = True) -> None:
    """Apply ``cfg``'s revisions to the newest of each branch in one transaction
    (:func:`migrating`); nothing at all when the database is at them already."""
    if up_to_date(engine, cfg):
        return
    with migrating(engine, check_references=check_references) as conn:
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "heads")
        except CommandError:
            known = known_revisions(ScriptDirectory.from_config(cfg))
            unknown = sorted(set(MigrationContext.configure(conn).get_current_heads()) - known)
            if not unknown:
                raise
            raise NewerDatabase(unknown_revisions_message(unknown)) from None


# The core's revisions are named 0001_core, 0002_accounts, …; an app's own get Alembic's
# hex ids (or names of its choosing).
_CORE_REVISION = re.compile(r"\d{4}_[a-z0-9_]+")


def unknown_revisions_message(unknown: Sequence[str]) -> str:
    """Why the database is at ``unknown`` revisions, and what to do: a newer release's
    (named as the core's are) or, more likely otherwise, the app's own migrations, which a
    core-only upgrade does not read (an app's developer was told to restore a backup)."""
    at = f"the database is at revision {', '.join(unknown)}, which this release does not know"
    newer = (
        "Run that release, or restore the backup taken before the upgrade "
        '(docs/operations.md, "Upgrading")'
    )
    if all(_CORE_REVISION.fullmatch(r) for r in unknown):
        return f"{at}: a newer release migrated it. {newer}"
    return (
        f"{at}. If it is one of your app's migrations, migrate with their directory: "
        "`tenantry migrate --app DIR`, or upgrade_project(engine, Path(DIR)) in code "
        f"(docs/guide.md). If a newer release of tenantry made it: {newer[0].lower()}{newer[1:]}"
    )


def known_revisions(script: ScriptDirectory) -> frozenset[str]:
    """Every revision ``script`` has a file for: an applied one outside it was made by a
    newer release (or an app's own directory that was not given)."""
    return frozenset(r.revision for r in script.walk_revisions())


def upgrade(
    engine: Engine, extra_version_dirs: Sequence[Path] = (), *, check_references: bool = True
) -> None:
    """Bring the schema to the newest revision of every branch."""
    cfg = alembic_config(engine, extra_version_dirs)
    upgrade_to_heads(engine, cfg, check_references=check_references)


def migrate_database(
    engine: Engine,
    extra_version_dirs: Sequence[Path] = (),
    *,
    app_role: str | None = None,
    app_dir: Path | None = None,
) -> list[str]:
    """Upgrade as the owner and, on PostgreSQL, grant ``app_role`` its row privileges.

    ``app_dir`` is an app's migrations directory (``tenantry migrations init``):
    its ``env.py`` runs the core's revisions and the app's. The grants include
    the owner's default privileges, so tables that later migrations create are
    covered too.

    Returns:
        The revisions this call applied, oldest first (empty: already up to date).
    """
    before = current_heads(engine)
    if app_dir is not None:
        from tenantry.migrations.project import project_config, upgrade_project

        upgrade_project(engine, app_dir, extra_version_dirs)
        cfg = project_config(engine, app_dir, extra_version_dirs)
    else:
        upgrade(engine, extra_version_dirs)
        cfg = alembic_config(engine, extra_version_dirs)
    applied = revisions_between(cfg, before, current_heads(engine))
    if app_role and engine.dialect.name == "postgresql":
        from tenantry.rls.grants import grant_app_role

        with engine.begin() as conn:
            grant_app_role(conn, app_role)
    return applied


def dirs_in_use(engine: Engine, candidates: Sequence[Path]) -> list[Path]:
    """The ``candidates`` (plugins' version directories, each a branch of its own) whose
    revisions the database is at: the migrations it was made with.

    A command that migrates or provisions a database applies these and no others: the
    bundled server's database needs meterbook's to be found, an app's database must not
    get meterbook's tables.
    """
    heads = current_heads(engine)
    if not heads:
        return []
    core = {r.revision for r in _script([]).walk_revisions()}
    return [
        d
        for d in candidates
        if heads & ({r.revision for r in _script([d]).walk_revisions()} - core)
    ]


def _config(version_dirs: Sequence[Path]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    locations = [str(CORE_VERSIONS), *(str(p) for p in version_dirs)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    return cfg


def _script(version_dirs: Sequence[Path]) -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(version_dirs))


def current_heads(engine: Engine) -> set[str]:
    """The revisions the database is at (empty: never migrated)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def revisions_between(cfg: Config, before: set[str], after: set[str]) -> list[str]:
    """The revisions reached from ``after`` but not from ``before``, oldest first."""
    script = ScriptDirectory.from_config(cfg)

    def lineage(heads: set[str]) -> set[str]:
        if not heads:
            return set()
        return {r.revision for r in script.iterate_revisions(tuple(heads), "base")}

    new = lineage(after) - lineage(before)
    return [r.revision for r in reversed(list(script.walk_revisions())) if r.revision in new]
