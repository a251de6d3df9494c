"""People for tests: sign up, invite and join, any role in any tenant, through the public API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from tenantry.models import normalize_email
from tenantry.roles import Role

PASSWORD = "correct horse battery"  # noqa: S105 (test accounts only)


@dataclass
class Member:
    """A signed-in person in one tenant: ids, tokens, and the headers to act as them."""

    email: str
    user_id: int
    tenant_id: str
    access: str
    refresh: str
    role: Role = Role.OWNER

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def unique_email(prefix: str = "user") -> str:
    """An address no earlier test used (databases may be shared between tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"


def signup_token(client: Any, email: str) -> str:
    """The token of the newest sign-up link mailed to ``email``, read from the app's outbox.

    Raises:
        AssertionError: the app's lifespan is not running (a ``TestClient`` used without
            ``with``), the app mails through SMTP (give tests an outbox ``Postman``), or
            no sign-up mail reached the outbox.
    """
    from tenantry.mail import OutboxMailer

    postman = client.app.state.tenancy.postman
    assert postman.jobs.running, (
        "the app's job service is not running, so its mails never leave: open the client "
        "as `with TestClient(app) as client:`, which runs the app's lifespan"
    )
    assert postman.wait_idle(), "the app's mails are still waiting to leave"
    mailer = postman.mailer
    assert isinstance(mailer, OutboxMailer), (
        "tenantry.testing reads sign-up links from the outbox: build the test app with "
        "Tenancy(..., postman=Postman.outbox(tmp_path)) or without a postman"
    )
    # With a shared (Redis) queue the mail job may run in another process's worker after
    # this one's hand-over, which is all wait_idle sees: give that worker a moment.
    message = mailer.wait_for(
        normalize_email(email), "welcome", timeout=10.0 if postman.jobs.shared else 0.0
    )
    assert message is not None, f"no sign-up mail to {email} in {mailer.directory}"
    return link_token(message)


def link_token(message: EmailMessage) -> str:
    """The ``token`` of the link in a mail's plain-text body (sign-up, reset, invitation)."""
    body = message.get_body(("plain",))
    found = re.search(r"[?&]token=([A-Za-z0-9_.%-]+)", body.get_content() if body else "")
    assert found, "the mail has no link with a token"
    return unquote(found.group(1))


def register(client: Any, email: str, *, password: str = PASSWORD, **extra: Any) -> Member:
    """Sign up through ``POST /api/auth/register`` and confirm the address as a person would,
    with the link of the welcome mail; ``extra`` may hold ``invite_code``.

    Raises:
        AssertionError: the app did not answer 202, or the link did not sign in.
    """
    response = client.post(
        "/api/auth/register", json={"email": email, "password": password, **extra}
    )
    _expect(response, 202)
    verified = client.post("/api/auth/verify", json={"token": signup_token(client, email)})
    _expect(verified, 200)
    data = verified.json()
    me = client.get("/api/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    _expect(me, 200)
    return Member(
        email,
        me.json()["id"],
        str(data["tenant_id"]),
        data["access_token"],
        data["refresh_token"],
        Role(data["role"]),
    )


def invite_code(client: Any, admin: Member, role: Role | str = Role.MEMBER) -> str:
    """A fresh single-use invite code into ``admin``'s tenant."""
    response = client.post(
        "/api/tenant/invites", json={"role": Role(role).value}, headers=admin.headers
    )
    if response.status_code == 403:
        raise AssertionError(
            f"{admin.email} is a {admin.role.value} and may not invite a {Role(role).value}: "
            f"pass an owner or an admin as the tenant's member ({response.text})"
        )
    _expect(response, 201)
    return str(response.json()["code"])


def _expect(response: Any, status: int) -> None:
    """Fail with the app's answer, and what to do when it is the test set-up's fault."""
    if response.status_code == status:
        return
    if response.status_code == 429:
        raise AssertionError(
            "the app rate-limited the test's sign-ups: build it with the plugin's "
            "`tenantry_config` fixture (or TenancyConfig(rate_limits=False)) "
            f"({response.text})"
        )
    raise AssertionError(f"expected {status}, got {response.status_code}: {response.text}")


def invite_and_join(
    client: Any, admin: Member, email: str | None = None, role: Role | str = Role.MEMBER
) -> Member:
    """A new account that joins ``admin``'s tenant with ``role`` through an invite code.

    An owner is made by joining as admin and being promoted by ``admin`` (an owner).
    """
    wanted = Role(role)
    joined_as = Role.ADMIN if wanted is Role.OWNER else wanted
    member = register(
        client,
        email or unique_email(wanted.value),
        invite_code=invite_code(client, admin, joined_as),
    )
    if wanted is Role.OWNER:
        changed = client.patch(
            f"/api/tenant/members/{member.user_id}",
            json={"role": Role.OWNER.value},
            headers=admin.headers,
        )
        _expect(changed, 200)
        member.role = Role.OWNER
    return member


def member_of(client: Any, tenant: Member | None = None, role: Role | str = Role.OWNER) -> Member:
    """A member with ``role``: of ``tenant``'s tenant, or the owner of a new tenant when None."""
    if tenant is None:
        if Role(role) is not Role.OWNER:
            raise ValueError("a new tenant's first member is its owner; pass tenant= for others")
        return register(client, unique_email("owner"))
    return invite_and_join(client, tenant, role=role)
