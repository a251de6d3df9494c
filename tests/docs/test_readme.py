"""The README's library snippet runs as written: in a fresh interpreter, then used over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

# Appended to the snippet: sign up, write a note as a member, and be refused without a token.
CHECK = """
from fastapi.testclient import TestClient

from tenantry.testing import register  # signs up and follows the mailed confirmation link

with TestClient(app) as client:
    member = register(client, "a@example.com")
    made = client.post("/notes", json={"body": "hi"}, headers=member.headers)
    assert made.status_code == 201, made.text
    assert client.post("/notes", json={"body": "x"}).status_code == 401
print("readme ok")
"""


def snippet() -> str:
    section = README.read_text().split("## Using the library", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README has no python snippet under 'Using the library'"
    return found.group(1)


def test_readme_snippet_runs_as_written(tmp_path: Path) -> None:
    # A subprocess: the snippet maps a table on tenantry's Base, which other tests must not see.
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", snippet() + CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "readme ok" in done.stdout
