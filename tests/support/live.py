"""Signing up against a server running in another process, as a person would."""

from __future__ import annotations

from pathlib import Path

import httpx

from tenantry.mail import OutboxMailer
from tenantry.testing import link_token
from tests.conftest import PASSWORD


def sign_up_live(url: str, email: str, outbox: Path, **extra: str) -> dict[str, str]:
    """Sign up, confirm with the welcome mail's link from the server's outbox; bearer headers."""
    body = {"email": email, "password": PASSWORD, "tenant_name": email.split("@")[0], **extra}
    answer = httpx.post(f"{url}/api/auth/register", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    welcome = OutboxMailer(outbox).wait_for(email, "welcome", timeout=30)
    assert welcome is not None, f"no welcome mail to {email} in {outbox}"
    verified = httpx.post(f"{url}/api/auth/verify", json={"token": link_token(welcome)})
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}
