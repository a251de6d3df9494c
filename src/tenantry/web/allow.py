"""The ``Allow`` header of a 405: every method the path supports, not only the first route's."""

from __future__ import annotations

from starlette.requests import Request

from tenantry.web.openapi import api_routes


def allowed_methods(request: Request) -> list[str]:
    """The methods of every API route whose path matches the request's path.

    Starlette answers 405 from the first route with a matching path; a path
    served by several routes (GET and POST as separate functions) would list
    one method only.
    """
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in api_routes(request.app):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(route.methods or ())
    return sorted(methods)
