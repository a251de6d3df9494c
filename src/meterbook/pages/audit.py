"""The household's audit trail for its admins: filter by action, member and dates; CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from meterbook.domain.csvfile import guarded
from meterbook.pages.csrf import check_csrf
from meterbook.pages.deps import NavDep
from meterbook.pages.render import render, user_zone
from tenantry import audit, tenants
from tenantry.errors import ValidationFailed
from tenantry.ids import is_user_id
from tenantry.web import AdminContext, DbSession, get_tenancy, tenant_download

router = APIRouter(
    dependencies=[Depends(check_csrf)], tags=["meterbook pages"], include_in_schema=False
)
ACTIONS = [
    "member",
    "invite",
    "tenant",
    "user",
    "session",
    "data",
    "row",
    "plan",
    "billing",
    "platform",
]
PAGE = 50


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str = ""
    member: int | None = None
    start: str = ""
    end: str = ""
    unknown_member: str = ""  # a member asked for that cannot be one: refused, not dropped
    unknown_action: str = ""  # likewise an action not in the list

    def link(self, **extra: object) -> str:
        params = {
            "action": self.action,
            "member": "" if self.member is None else str(self.member),
            "start": self.start,
            "end": self.end,
            **{k: str(v) for k, v in extra.items()},
        }
        return urlencode({k: v for k, v in params.items() if v})


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _bad_filters(q: AuditQuery) -> str | None:
    """What is wrong with the dates or member asked for; a filter is never silently dropped."""
    for label, text in (("From", q.start), ("To", q.end)):
        if text and _day(text) is None:
            return f"{label}: {text!r} is not a date (YYYY-MM-DD)"
    if q.unknown_action:
        return f"Action: {q.unknown_action[:20]!r} is not one of the list; pick one from it"
    if q.unknown_member:
        return f"Member: {q.unknown_member[:20]!r} is not a member's number; pick one from the list"
    return None


def _query(
    action: str = Query(default="", max_length=64),
    member: str = Query(default="", max_length=64),
    start: str = Query(default="", max_length=10),
    end: str = Query(default="", max_length=10),
) -> AuditQuery:
    """Empty fields (the form's "all" and "anyone") mean no filter; a bad date, member or
    action is refused (:func:`_bad_filters`)."""
    who = int(member) if member.isdigit() and is_user_id(int(member)) else None
    unknown = member if member and who is None else ""
    known = action if action in ACTIONS else ""
    return AuditQuery(known, who, start, end, unknown, "" if known else action)


def _filter(request: Request, q: AuditQuery) -> audit.AuditFilter:
    """Dates are days in the reader's time zone; ``end`` is included."""
    zone = user_zone(request)
    first, last = _day(q.start), _day(q.end)
    return audit.AuditFilter(
        action=q.action or None,
        actor_id=q.member,
        since=datetime.combine(first, time(), zone) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
    )


@router.get("/household/audit")
def audit_page(
    request: Request,
    ctx: AdminContext,
    nav: NavDep,
    session: DbSession,
    q: AuditQuery = Depends(_query),
    before: int | None = Query(default=None, ge=1),
) -> Response:
    error = _bad_filters(q)
    found = (
        []
        if error
        else audit.events(session, ctx.tenant_id, _filter(request, q), before_id=before, limit=PAGE)
    )
    members = tenants.members(session, ctx.tenant_id)
    names = {u.id: u.display_name or u.email for _, u in members}
    return render(
        request,
        "audit.html",
        nav=nav,
        status=422 if error else 200,
        error=error,
        events=found,
        names=names,
        members=[(u.id, u.display_name or u.email) for _, u in members],
        actions=ACTIONS,
        q=q,
        older=q.link(before=found[-1].id) if len(found) == PAGE else None,
        newest=q.link() if before else None,
        active="household",
    )


@router.get("/household/audit.csv")
def audit_csv(
    request: Request,
    ctx: AdminContext,
    session: DbSession,
    q: AuditQuery = Depends(_query),
) -> StreamingResponse:
    error = _bad_filters(q)
    if error:
        field = "start" if "From" in error else "member" if "Member" in error else "end"
        raise ValidationFailed(error, details={"field": field})
    where = _filter(request, q)

    def produce(read: Session) -> Iterator[bytes]:
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(["time", "action", "actor_id", "target", "details"])
        for n, e in enumerate(audit.iter_events(read, ctx.tenant_id, where), 1):
            out.writerow(
                [
                    e.created_at.isoformat(),
                    e.action,
                    e.actor_id or e.actor_pseudonym or "",
                    guarded(e.target or ""),
                    guarded(json.dumps(e.details, ensure_ascii=False, sort_keys=True, default=str)),
                ]
            )
            if n % 500 == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    slug = tenants.get_tenant(session, ctx.tenant_id).slug
    return tenant_download(
        get_tenancy(request).db,
        ctx,
        produce,
        filename=f"audit-{slug}-{datetime.now():%Y%m%d}.csv",
        media_type="text/csv; charset=utf-8",
        session=session,
    )
