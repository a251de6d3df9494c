"""The examples, loaded and used as their docs say: each test signs people up by mail."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.mail import link_in, mailed, query_value

EXAMPLES = Path(__file__).parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (once per process: its models map once)."""
    key = f"examples_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def signed_up(client: Any, app: Any, who: str) -> dict[str, str]:
    """``who``@example.com signed up and confirmed through the mailed link: bearer headers."""
    email = f"{who}@example.com"
    client.post("/api/auth/register", json={"email": email, "password": "long enough pw"})
    link = link_in(mailed(app, email, "welcome"), "/verify-email")
    verified = client.post("/api/auth/verify", json={"token": query_value(link, "token")})
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}
