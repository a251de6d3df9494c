"""Signing up against a server running in another process, as a person would."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote

import httpx

from tenantry.mail import OutboxMailer
from tests.conftest import PASSWORD


def _welcome(outbox: Path, email: str) -> EmailMessage:
    mailer = OutboxMailer(outbox)
    deadline = time.monotonic() + 30
    while (found := mailer.find(email, "welcome")) is None:
        assert time.monotonic() < deadline, f"no welcome mail to {email} in {outbox}"
        time.sleep(0.1)
    return found


def sign_up_live(url: str, email: str, outbox: Path, **extra: str) -> dict[str, str]:
    """Sign up, confirm with the welcome mail's link from the server's outbox; bearer headers."""
    body = {"email": email, "password": PASSWORD, "tenant_name": email.split("@")[0], **extra}
    answer = httpx.post(f"{url}/api/auth/register", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    text = _welcome(outbox, email).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"[?&]token=([A-Za-z0-9_.%-]+)", text)
    assert found, "the welcome mail has no link"
    verified = httpx.post(f"{url}/api/auth/verify", json={"token": unquote(found.group(1))})
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}
