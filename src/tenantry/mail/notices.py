"""The messages tenantry sends, rendered from text + HTML templates, and who gets them.

Membership notices follow the audit trail: whenever a transaction that recorded
``member.added``, ``member.removed`` or ``member.left`` commits, the tenant's
owners (except whoever did it) get a mail. No route has to remember to send it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenantry.hooks import SessionFactory, listen
from tenantry.mail.message import Message
from tenantry.mail.postman import send_after_commit
from tenantry.models import Membership, Tenant, User
from tenantry.roles import Role

TEMPLATES = Path(__file__).parent / "templates"
_NOTED = "tenantry.mail.membership_changes"
MEMBERSHIP_ACTIONS = ("member.added", "member.removed", "member.left")


@dataclass(frozen=True, slots=True)
class MailLinks:
    """Where the links in mails point: paths of the host's pages under ``public_url``."""

    verify: str = "/verify-email"
    reset: str = "/reset-password"
    forgot: str = "/forgot-password"
    signin: str = "/signin"
    invite: str = "/invite"
    members: str = "/t/{slug}/household"


def note_membership_change(session: Session, action: str, **details: Any) -> None:
    """Called by the audit trail: remember a membership change for the notices."""
    if action in MEMBERSHIP_ACTIONS:
        session.info.setdefault(_NOTED, []).append((action, details))


class Mailroom:
    """Composes each message and queues it on the session, to leave after commit."""

    def __init__(self, *, site: str, public_url: str, links: MailLinks | None = None) -> None:
        self.site = site
        self.public_url = public_url.rstrip("/")
        self.links = links or MailLinks()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def url(self, path: str, **query: str) -> str:
        return f"{self.public_url}{path}" + (f"?{urlencode(query)}" if query else "")

    def compose(self, kind: str, to: str, subject: str, **context: Any) -> Message:
        context = {"site": self.site, "public_url": self.public_url, **context}
        text = self.env.get_template(f"{kind}.txt").render(context)
        html = self.env.get_template(f"{kind}.html").render(context)
        return Message(to=to, subject=subject, text=text, html=html, kind=kind)

    def _queue(self, session: Session, kind: str, to: str, subject: str, **ctx: Any) -> None:
        send_after_commit(session, self.compose(kind, to, subject, **ctx))

    def welcome(
        self,
        session: Session,
        user: User,
        token: str,
        ttl: timedelta,
        joining: Membership | None = None,
    ) -> None:
        """The confirmation link; with ``joining`` (a sign-up with an invite code) it names
        the tenant the account joins, so that someone signed up by another person with
        that person's code knows what confirming means."""
        tenant = session.get(Tenant, joining.tenant_id) if joining is not None else None
        self._queue(
            session,
            "welcome",
            user.email,
            f"Welcome to {self.site}: confirm your email address",
            name=user.display_name,
            url=self.url(self.links.verify, token=token),
            hours=int(ttl.total_seconds() // 3600),
            tenant=tenant.name if tenant is not None else None,
            role=Role(joining.role).value if joining is not None else None,
        )

    def verify_email_message(self, user: User, token: str, ttl: timedelta) -> Message:
        return self.compose(
            "verify_email",
            user.email,
            f"Confirm your email address for {self.site}",
            name=user.display_name,
            url=self.url(self.links.verify, token=token),
            hours=int(ttl.total_seconds() // 3600),
        )

    def already_registered(
        self, session: Session, email: str, invite: tuple[str, str] | None = None
    ) -> None:
        """With ``invite`` (the tenant's name and the code the sign-up gave), the way to
        join it signed in: the sign-up itself changed nothing."""
        self._queue(
            session,
            "already_registered",
            email,
            f"You already have a {self.site} account",
            signin_url=self.url(self.links.signin),
            reset_url=self.url(self.links.forgot),
            tenant=invite[0] if invite else None,
            invite_url=self.url(self.links.invite, code=invite[1]) if invite else None,
        )

    def invitation(
        self,
        session: Session,
        *,
        email: str,
        code: str,
        tenant_name: str,
        inviter: str,
        role: Role,
        expires_at: datetime,
    ) -> None:
        self._queue(
            session,
            "invitation",
            email,
            f"{inviter} invites you to {tenant_name} on {self.site}",
            inviter=inviter,
            tenant=tenant_name,
            role=role.value,
            code=code,
            url=self.url(self.links.invite, code=code),
            expires=f"{expires_at:%Y-%m-%d %H:%M}",
        )

    def password_reset(self, session: Session, user: User, token: str, ttl: timedelta) -> None:
        self._queue(
            session,
            "password_reset",
            user.email,
            f"Reset your {self.site} password",
            name=user.display_name,
            url=self.url(self.links.reset, token=token),
            minutes=int(ttl.total_seconds() // 60),
        )

    def password_changed(self, session: Session, user: User) -> None:
        self._queue(
            session,
            "password_changed",
            user.email,
            f"Your {self.site} password was changed",
            name=user.display_name,
            reset_url=self.url(self.links.forgot),
        )

    def install(self, sessions: SessionFactory) -> None:
        """Send membership notices for every transaction of ``sessions`` that changes members."""
        listen(sessions, "before_commit", self._membership_notices)
        listen(sessions, "after_rollback", lambda s: s.info.pop(_NOTED, None))

    def _membership_notices(self, session: Session) -> None:
        for action, details in session.info.pop(_NOTED, []):
            self._membership_notice(session, action, **details)

    def _membership_notice(
        self,
        session: Session,
        action: str,
        *,
        tenant_id: uuid.UUID | None,
        actor_id: int | None,
        target: str | None,
        erased: bool = False,
        **_: Any,
    ) -> None:
        member_id = int(target.split(":", 1)[1]) if target else actor_id
        tenant = session.get(Tenant, tenant_id) if tenant_id else None
        member = session.get(User, member_id) if member_id else None
        if tenant is None or member is None:
            return
        role = session.get(Membership, (tenant.id, member.id))
        owners = session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant.id, Membership.role == Role.OWNER.value)
            .order_by(User.id)
        )
        joined = action == "member.added"
        # An erased account is named by nobody, least of all by its trail's pseudonym.
        who = "A member who erased their account" if erased else member.display_name
        for owner in owners:
            if owner.id in (member.id, actor_id):
                continue
            self._queue(
                session,
                "member_joined" if joined else "member_left",
                owner.email,
                f"{who} {'joined' if joined else 'left'} {tenant.name}",
                name=owner.display_name,
                member=who if erased else f"{member.display_name} <{member.email}>",
                tenant=tenant.name,
                role=role.role if role else "",
                removed=action == "member.removed",
                url=self.url(self.links.members.format(slug=tenant.slug)),
            )
