"""docs/guide.md, run as a stranger would: built wheel, fresh venv, empty directory, both backends.

Every file the guide shows (a fenced block with ``title="path"``) is written and
every ``sh`` block is run, in order; the guide's own tests (the shipped plugin's
isolation attack among them) must pass. The install step is the one change:
the wheel built from this checkout instead of the index.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import APP_ROLE, OWNER_ROLE, PostgresServer

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_TITLE = re.compile(r'title="([^"]+)"')


@dataclass
class Guide:
    files: dict[str, str]
    commands: list[str]


def read_guide() -> Guide:
    guide = Guide({}, [])
    for lang, info, body in _BLOCK.findall(GUIDE.read_text()):
        title = _TITLE.search(info)
        if title:
            guide.files[title.group(1)] = body
        elif lang == "sh":
            guide.commands += [line for line in body.splitlines() if line.strip()]
    return guide


def _run(cmd: list[str], **kwargs: object) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel built from this checkout, pytest and httpx2."""
    where = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(where), str(ROOT)])
    [wheel] = where.glob("tenantry-*.whl")
    env = where / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = env / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-compile",
            f"{wheel}[postgres]",
            "pytest",
            "httpx2",
        ]
    )
    return env


def _follow_guide(venv: Path, project: Path, env: dict[str, str]) -> str:
    guide = read_guide()
    assert guide.files and guide.commands
    for name, body in guide.files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    clean.pop("PYTHONPATH", None)
    clean["PATH"] = f"{venv / 'bin'}:{clean.get('PATH', '')}"
    script = "set -euo pipefail\n" + "\n".join(guide.commands)
    return _run(["bash", "-c", script], cwd=project, env={**clean, **env})


def _check_revision(project: Path) -> None:
    [revision] = (project / "migrations" / "versions").glob("*_projects.py")
    source = revision.read_text()
    assert "PrimaryKeyConstraint('tenant_id', 'id'" in source
    assert "enable_tenant_rls('projects')" in source
    assert "branch_labels: str | Sequence[str] | None = ('app',)" in source  # on the core's head
    assert "tenantry_users" not in source  # the core's tables are left to the core


@pytest.mark.timeout(900)  # a live server or a fresh venv: slow on a loaded machine
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_guide_runs_as_written(
    request: pytest.FixtureRequest, venv: Path, tmp_path: Path, backend: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    if backend == "sqlite":
        output = _follow_guide(
            venv, project, {"DATABASE_URL": "sqlite:///app.sqlite3", "APP_ROLE_OPTION": ""}
        )
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        name = postgres.create_database()
        try:
            output = _follow_guide(
                venv,
                project,
                {
                    "DATABASE_URL": postgres.url(OWNER_ROLE, name),
                    "APP_ROLE_OPTION": f"--app-role {APP_ROLE}",
                    "TENANTRY_TEST_DATABASE_URL": postgres.url(APP_ROLE, name),
                },
            )
            engine = create_engine(postgres.url(OWNER_ROLE, name))
            with engine.connect() as conn:
                forced = conn.scalar(
                    text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'projects'")
                )
            engine.dispose()
            assert forced is True
        finally:
            postgres.drop_database(name)
    _check_revision(project)
    # "2 passed in": no warning either (Starlette's TestClient on plain httpx gave one).
    assert re.search(r"^2 passed in ", output, re.MULTILINE), output
