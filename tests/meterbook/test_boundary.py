"""meterbook uses only the core's public API: ``tenantry.web`` itself, not its modules.

The web layer's modules (dependencies, middlewares, resolution, streaming) are how the
core is built; what an app may use is what ``tenantry.web`` exports. Names starting
with ``_`` are private anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import meterbook


def _imports() -> list[tuple[str, str, str]]:
    """(file, module, name) of every ``from tenantry… import name`` in meterbook."""
    found = []
    root = Path(meterbook.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tenantry"):
                for alias in node.names:
                    found.append((str(path.relative_to(root)), node.module or "", alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("tenantry"):
                        found.append((str(path.relative_to(root)), alias.name, ""))
    return found


def test_meterbook_imports_only_the_public_api() -> None:
    imports = _imports()
    assert imports, "meterbook imports the core"
    internal = [
        f"{file}: from {module} import {name}"
        for file, module, name in imports
        if module.startswith("tenantry.web.") or name.startswith("_") or "._" in module
    ]
    assert internal == []
