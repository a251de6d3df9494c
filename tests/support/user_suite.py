"""A user's test suite on the shipped plugin, run in a pytest of its own (a subprocess), so
its models never join this suite's model registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The user's conftest: their app, ``create_app`` of the module ``fences_app``.
CONFTEST = """
import pytest
from fences_app import create_app


@pytest.fixture
def tenantry_app(tenantry_database_url, tenantry_config, tenantry_passwords):
    return create_app(tenantry_database_url, tenantry_config, tenantry_passwords)
"""


def run_suite(
    tmp_path: Path, app: str, test: str, *options: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A user's suite of ``app`` (the module ``fences_app``, with ``create_app(url, config,
    passwords)``) and ``test``, on the shipped plugin, in a pytest of its own; on
    ``database_url`` (``TENANTRY_TEST_DATABASE_URL``) instead of the plugin's SQLite."""
    (tmp_path / "fences_app.py").write_text(app)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_fences.py").write_text(test)
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    src = str(Path(__file__).parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    if database_url:
        env["TENANTRY_TEST_DATABASE_URL"] = database_url
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *options,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
