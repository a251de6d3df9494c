"""A truthful OpenAPI document: bearer security, the error answers, one shared error schema.

FastAPI declares only 200 and its own 422 shape. Every route of a tenant-aware
app may also answer 400, 401, 402, 403, 404, 409, 413 and 429, always as
``{"error": {"code", "message", "details"?}}`` (``tenantry.web.errors``); routes
that read the access token declare the ``bearer`` scheme, so ``/docs`` has an
Authorize button and every call can be tried there.
"""

from __future__ import annotations

from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tenantry.web import deps

ERROR_SCHEMA = "Error"
SECURITY_SCHEME = "bearer"

_ERROR_COMPONENT: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}

_ALWAYS = {
    400: "The request cannot be read (a malformed body or parameter).",
    401: "No valid access token, or wrong credentials.",
    402: "The tenant's plan does not include this, or a quota is reached.",
    403: "The caller's role is too low, or the tenant is suspended.",
    404: "No such object, or it belongs to another tenant: the two look the same.",
    409: "The change conflicts with the current state.",
    422: "A value is invalid; `details` names the field.",
    429: "Too many attempts; wait and try again.",
}
_SIGNED_IN: dict[int, str] = {}
_WITH_BODY = {413: "The body is larger than the configured limit."}


def api_routes(app: FastAPI) -> list[Any]:
    """The app's API routes with their effective paths, however routers were included.

    Newer FastAPI keeps included routers nested (``iter_route_contexts`` flattens
    them); older versions copy routes into ``app.routes``.
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(iterate(app.routes)) if iterate is not None else list(app.routes)
    return [r for r in routes if isinstance(getattr(r, "original_route", r), APIRoute)]


def needs_token(route: Any) -> bool:
    """True when the route reads the access token (through any of its dependencies)."""
    return any(call is deps._token_claims for call in deps.dependency_calls(route.dependant))


def _error(description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def describe(
    schema: dict[str, Any], routes: list[Any], hidden: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Add security and error answers to an OpenAPI document built from ``routes``.

    ``routes`` are those of :func:`api_routes`. Paths under a ``hidden`` prefix (the
    platform's) are left out: to anyone else they are missing routes, and a public
    document listing them would say otherwise.
    """
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = _ERROR_COMPONENT
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    paths = schema.get("paths", {})
    for path in [p for p in paths if p.startswith(hidden)] if hidden else []:
        del paths[path]
    for route in routes:
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            answers = dict(_ALWAYS)
            if needs_token(route):
                operation["security"] = [{SECURITY_SCHEME: []}]
                answers |= _SIGNED_IN
            if "requestBody" in operation:
                answers |= _WITH_BODY
            responses = operation.setdefault("responses", {})
            for status, description in answers.items():
                if str(status) == "422" or str(status) not in responses:
                    responses[str(status)] = _error(description)
    return schema


def install_openapi(app: FastAPI, hidden: tuple[str, ...] = ()) -> None:
    """Make ``app.openapi()`` return the described document (built once, on first use)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(plain(), api_routes(app), hidden)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
