"""docs/api.md lists exactly the routes ``Tenancy.install()`` adds, as the OpenAPI document says.

Regenerate the table after changing a route: ``python -m tests.docs.test_api_doc``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tenantry.db import Database
from tenantry.web import Tenancy, TenancyConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BEGIN, END = "<!-- routes:begin -->", "<!-- routes:end -->"


def library_app() -> FastAPI:
    """A bare app with nothing but ``Tenancy.install()``: the library's own routes."""
    app = FastAPI()
    Tenancy(Database("sqlite://"), TenancyConfig(secret_key="k" * 40)).install(app)
    return app


def _name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return "`" + schema["$ref"].rsplit("/", 1)[-1] + "`"
    if schema.get("type") == "array":
        return f"list of {_name(schema.get('items'))}"
    return ""


def render_table(spec: dict[str, Any]) -> str:
    rows = [
        "| method | path | token | body | answer | what |",
        "|---|---|---|---|---|---|",
    ]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ok = next(code for code in op["responses"] if code.startswith("2"))
            answer = op["responses"][ok].get("content", {}).get("application/json", {})
            token = "bearer" if op.get("security") else ""
            what = (op.get("description") or op.get("summary") or "").split("\n")[0]
            rows.append(
                f"| {method.upper()} | `{path}` | {token} | {_name(body.get('schema'))} "
                f"| {ok} {_name(answer.get('schema'))} | {what} |"
            )
    return "\n".join(rows)


def _current() -> str:
    found = re.search(f"{BEGIN}\n(.*?)\n{END}", DOC.read_text(), re.DOTALL)
    assert found, f"docs/api.md has no {BEGIN} … {END} section"
    return found.group(1)


def test_api_doc_lists_every_route_of_install() -> None:
    app = library_app()
    expected = render_table(app.openapi())
    assert _current() == expected, "docs/api.md is stale: python -m tests.docs.test_api_doc"
    app.state.tenancy.db.dispose()


if __name__ == "__main__":
    app = library_app()
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + render_table(app.openapi()) + "\n" + text[end:])
    app.state.tenancy.db.dispose()
