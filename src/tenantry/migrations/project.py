"""An app's own migrations beside tenantry's: scaffold, autogenerate, upgrade.

The app keeps a directory (``migrations/`` by convention) with an ``env.py``
that imports its models, tenantry's revision template, and ``versions/``. Its
revisions form a branch labelled ``app`` that starts on the core's head, so one
``upgrade heads`` applies the core's migrations and the app's, in order, with
one ``alembic_version`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from tenantry.migrations.runner import alembic_config, upgrade_to_heads

APP_BRANCH = "app"
TEMPLATE = Path(__file__).parent / "script.py.mako"

ENV_PY = '''"""Alembic environment of this app: its models on tenantry's Base."""

import {models}  # noqa: F401  (importing registers the app's tables on tenantry's Base)
from tenantry.migrations.autogen import run_migrations

run_migrations()
'''


def init_project(directory: Path, *, models: str) -> list[Path]:
    """Write ``env.py``, the revision template and ``versions/`` into ``directory``.

    Args:
        directory: where the app's migrations live; created if missing.
        models: the module that defines the app's models (``myapp.models``).

    Returns:
        The files written.

    Raises:
        FileExistsError: ``directory`` already holds an ``env.py``.
    """
    env = directory / "env.py"
    if env.exists():
        raise FileExistsError(f"{env} exists: this directory is already set up")
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    env.write_text(ENV_PY.format(models=models))
    template = directory / "script.py.mako"
    template.write_text(TEMPLATE.read_text())
    return [env, template, directory / "versions"]


def project_config(
    engine: Engine, directory: Path, extra_version_dirs: Sequence[Path] = ()
) -> Config:
    """An Alembic config running the app's ``env.py`` over the core's and the app's revisions."""
    if not (directory / "env.py").exists():
        raise FileNotFoundError(f"{directory} has no env.py: run `tenantry migrations init` first")
    cfg = alembic_config(engine, [*extra_version_dirs, directory / "versions"])
    cfg.set_main_option("script_location", str(directory))
    cfg.set_main_option("prepend_sys_path", ".")  # the app's package, from where it runs
    return cfg


def upgrade_project(
    engine: Engine, directory: Path, extra_version_dirs: Sequence[Path] = ()
) -> None:
    """Apply the core's migrations and the app's, to the newest revision of each."""
    upgrade_to_heads(engine, project_config(engine, directory, extra_version_dirs))


class NotFirstRevision(Exception):
    """``adopt`` asked for a revision other than the app's first."""


def new_revision(
    engine: Engine,
    directory: Path,
    message: str,
    *,
    autogenerate: bool = True,
    adopt: bool = False,
) -> Path:
    """Write the app's next revision, comparing its models with the (migrated) database.

    The first revision starts the ``app`` branch on the core's head; the next
    ones follow the branch's head. With ``adopt`` (the first revision only), every
    table of the models is written to be adopted where the database holds it
    (``tenantry.migrations.autogen.adopting``): after ``tenantize``.

    Returns:
        The path of the new revision file.

    Raises:
        NotFirstRevision: ``adopt`` when the app has revisions already; its
            downgrade would drop tables an earlier revision made.
    """
    cfg = project_config(engine, directory)
    script = ScriptDirectory.from_config(cfg)
    versions = (directory / "versions").resolve()
    own = [r for r in script.get_revisions("heads") if Path(r.path).parent.resolve() == versions]
    options: dict[str, object] = {}
    if own and adopt:
        raise NotFirstRevision(
            f"--adopt writes the app's first revision, and {directory} has one "
            f"({own[0].revision}): write this one without --adopt"
        )
    if own:
        options["head"] = own[0].revision
    else:
        # No revision of the app yet: every head is the core's.
        core = [r.revision for r in script.get_revisions("heads")]
        options.update(head=core[0], splice=True, branch_label=APP_BRANCH)
        if len(core) > 1:
            options["depends_on"] = core[1:]
    cfg.attributes["adopt"] = adopt
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        created = command.revision(
            cfg,
            message=message,
            autogenerate=autogenerate,
            version_path=str(versions),
            **options,  # type: ignore[arg-type]
        )
    if created is None or isinstance(created, list):
        raise RuntimeError("alembic wrote no single revision")
    return Path(created.path)
