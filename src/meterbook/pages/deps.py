"""Dependencies of the pages: the navigation, the form as text fields, safe redirects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from meterbook.pages.render import Nav, load_nav
from tenantry.web import DbSession, ViewerContext


def _nav(ctx: ViewerContext, session: DbSession) -> Nav:
    return load_nav(session, ctx)


NavDep = Annotated[Nav, Depends(_nav)]


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (files are left out)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


# Read on the event loop before a (``def``, threadpool) page runs: pages never await.
FormFields = Annotated[dict[str, str], Depends(form_fields)]


def safe_next(target: str | None, default: str) -> str:
    """Only a local path: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def see_other(url: str, cookies: list[str] | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    for cookie in cookies or []:
        response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
    return response
