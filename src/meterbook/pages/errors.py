"""One error page for the UI; API paths keep the core's JSON errors."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from meterbook.pages.billing import form_targets, suspended_context
from meterbook.pages.render import render
from meterbook.pages.wording import household_words
from tenantry.errors import AuthenticationFailed, TenantSuspended
from tenantry.web import path_tenant, problem_of

Handler = Callable[[Request, Exception], Awaitable[Response]]
# Paths for programs, not people: the API and the probes (health, readiness, metrics),
# the API also under a household prefix the path-prefix middleware did not take (a slug
# spelt otherwise, or none).
_API = re.compile(r"^(/t/[^/]*)?/(api(/|$)|healthz$|readyz$|metrics$)")

_TITLES = {
    400: "That did not work",
    402: "Not in your plan",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "That cannot be done",
    413: "Too large",
    422: "Please check what you entered",
    429: "Slow down",
}


def _status_message(request: Request, exc: Exception) -> tuple[int, str, dict[str, str]]:
    """The core's status, words and headers (``Retry-After``) for ``exc``
    (:func:`~tenantry.web.problem_of`), in a page's terms: a form's problems in general,
    our own faults without their detail."""
    problem = problem_of(request, exc)
    headers = dict(problem.headers or {})
    if problem.status >= 500 and problem.status != 503:  # a 503 says what is down
        return problem.status, "Something went wrong on our side.", headers
    if isinstance(exc, RequestValidationError):
        return 422, "Some of the values sent are missing or invalid.", headers
    return problem.status, household_words(problem), headers


def error_page(request: Request, exc: Exception) -> Response:
    """The page for ``exc``; a missing sign-in goes to the sign-in page instead.

    The body names neither the URL nor the id asked for, so "no such reading" and
    "another household's reading" give the very same page.
    """
    if isinstance(exc, AuthenticationFailed) and request.method == "GET":
        # The household prefix was stripped before routing: put it back in the way back.
        slug = path_tenant(request.scope)
        prefix = f"/t/{slug}" if slug else ""
        target = prefix + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
    if isinstance(exc, AuthenticationFailed):
        # A form sent from a page left open after signing out (another tab): back to the
        # page it came from once signed in, saying it was not saved (not an error page).
        back = _same_site_path(request.headers.get("referer", ""), request)
        where = f"&next={quote(back)}" if back else ""
        return RedirectResponse(f"/signin?msg=unsent{where}", status_code=303)
    if isinstance(exc, TenantSuspended):
        return _suspended(request)
    status, message, headers = _status_message(request, exc)
    page = render(
        request,
        "error.html",
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        message=message,
        status_code=status,
    )
    page.headers.update(headers)  # a 429's or a 503's Retry-After, as the API's
    return page


def _same_site_path(referer: str, request: Request) -> str:
    """The path (and query) of ``referer`` when it is a page of this site, else ``""``."""
    found = urlsplit(referer)
    if found.netloc != request.url.netloc or not found.path.startswith("/"):
        return ""
    return found.path + (f"?{found.query}" if found.query else "")


def _suspended(request: Request) -> Response:
    """What a suspended household's members see, and what an owner can do about it."""
    slug = path_tenant(request.scope)
    return render(
        request,
        "suspended.html",
        status=403,
        prefix=f"/t/{slug}" if slug else "",
        form_targets=form_targets(request),
        **suspended_context(request),
    )


def install_error_pages(app: FastAPI) -> None:
    """Every failure: the core's JSON for ``/api`` and the probes, the error page elsewhere."""
    handlers = {Exception: None, **app.exception_handlers}
    for cls, json_handler in handlers.items():
        if isinstance(cls, type):
            app.add_exception_handler(cls, _either(cast("Handler | None", json_handler)))


def _either(json_handler: Handler | None) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if json_handler is not None and _API.match(request.url.path):
            return await json_handler(request, exc)
        return error_page(request, exc)

    return handler
