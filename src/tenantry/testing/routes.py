"""An app's routes as the attack sees them: each operation of its route table, where it
takes ids, and requests made with the ids one chooses (the others filled from examples
its schema accepts)."""

from __future__ import annotations

import copy
import json
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from tenantry.web.openapi import api_routes

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# The ids nothing has, to ask for beside the victim's.
MISSING: Mapping[str, object] = {
    "int": 2**52 + 12345,
    "uuid": uuid.uuid4(),
    "str": 2**52 + 12345,
    "text": "VICTIM-" + uuid.uuid4().hex[:10],  # shaped like a marker, in no row
}
# The missing id beside a victim's id that a 32-bit column holds (a member's, a legacy
# table's): the one above, beyond 32 bits, was refused as out of range (422) where the
# victim's small id was looked up and not found (404), a difference that is no leak.
SMALL_MISSING = 2**31 - 12345


def missing_beside(value: object) -> int:
    """The missing id to compare ``value`` (a victim's integer id) with."""
    big = MISSING["int"]
    assert isinstance(big, int)
    return SMALL_MISSING if isinstance(value, int) and abs(value) < 2**31 else big


def _example(schema: Mapping[str, Any], defs: Mapping[str, Any], *, every: bool = False) -> Any:
    """A value ``schema`` accepts; an object with its required properties (``every``: all
    of them, so that a PATCH whose fields are optional still writes something)."""
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, every=every)
    if schema.get("examples"):  # pydantic puts a field's examples beside its anyOf
        return schema["examples"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], defs, every=every) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return {k: _example(v, defs) for k, v in props.items() if every or k in required}
    if kind == "array":
        item = _example(schema.get("items", {}), defs)
        return [item] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        # 2, not 1: the attack's rows hold 1 (tenantry.testing.seeding), and a write of the
        # value a row already holds could not be told from no write at all.
        value = max(2, low)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    return _text_example(schema)


def _text_example(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    known = {
        "date": date(2024, 1, 15).isoformat(),
        "date-time": datetime(2024, 1, 15, 12, tzinfo=UTC).isoformat(),
        "time": time(12).isoformat(),
        "uuid": str(uuid.uuid4()),
        "email": "attack@example.com",  # pydantic's EmailStr refuses reserved names
        "uri": "https://example.com/attack",
    }
    if fmt in known:
        return known[fmt]
    text = "attack".ljust(int(schema.get("minLength", 0)), "x")
    return text[: schema["maxLength"]] if "maxLength" in schema else text


# Where an id goes in a request, and the parameter's name there.
Slot = tuple[str, str]  # ("path" | "query" | "body", name)


# A query or body field that names an object: ``id``, ``recipe_id``, ``recipeId``; or
# several (a body's ``label_ids``, ``labelIds``).
_ID_NAME = re.compile(r"(?:^id|_id|[a-z0-9]Id)$")


_IDS_NAME = re.compile(r"(?:^ids|_ids|[a-z0-9]Ids)$")


# ...but not a bound to page or filter by (``?after_id=``, ``?max_id=``): a number to
# compare with, whose answer legitimately depends on its value.
_BOUND_NAME = re.compile(
    r"^(?:after|before|since|until|from|to|min|max|last|first|start|end|cursor)_?id$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Operation:
    """One method on one path of the app's OpenAPI document, and where it takes ids."""

    method: str
    path: str
    path_params: dict[str, str]  # name -> "int" | "uuid" | "str", in the path's order
    body: Any
    # Query parameters and body fields named like ids (``?recipe_id=``, ``{"source_id": 4}``,
    # ``{"label_ids": [4]}``: kind "int[]"; nested: ``pin.note_id``, ``parts[].note_id``):
    # they get A's ids as path parameters do.
    query_ids: dict[str, str] = field(default_factory=dict)
    body_ids: dict[str, str] = field(default_factory=dict)
    # The other required query parameters, with example values (``?q=attack``).
    query: dict[str, Any] = field(default_factory=dict)
    # The required free-text query parameters (a search's ``q``): they get A's marker,
    # where an example would match none of A's rows.
    query_text: tuple[str, ...] = ()
    # The required headers (an ``Idempotency-Key``), with example values.
    headers: dict[str, str] = field(default_factory=dict)
    # Path parameters no id fits (``{month}``, at most 12), with example values.
    path_values: dict[str, Any] = field(default_factory=dict)

    @property
    def takes_ids(self) -> bool:
        return bool(self.slots())

    @property
    def is_list(self) -> bool:
        return self.method == "GET" and not self.path_params

    @property
    def is_write(self) -> bool:
        return self.method in _MUTATING and not self.path_params

    def slots(self) -> dict[Slot, str]:
        """Every place an id (or a search text: kind "text") goes, with its kind."""
        return {
            **{("path", n): k for n, k in self.path_params.items()},
            **{("query", n): k for n, k in self.query_ids.items()},
            **{("query", n): "text" for n in self.query_text},
            **{("body", n): k for n, k in self.body_ids.items()},
        }


def _kind(schema: Mapping[str, Any]) -> str:
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("type") == "integer":
            return "int"
        if option.get("format") == "uuid":
            return "uuid"
        if option.get("type") == "array":
            return _kind(option.get("items", {})) + "[]"
    return "str"


def _resolved(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _object_of(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The object a field holds (its ``$ref``, or the object among its ``anyOf``), if any."""
    schema = _resolved(schema, defs)
    for option in schema.get("anyOf", schema.get("oneOf", [schema])):
        option = _resolved(option, defs)
        if "properties" in option:
            return option
    return None


def _items_of(
    schema: Mapping[str, Any], defs: Mapping[str, Any]
) -> tuple[Mapping[str, Any], int] | None:
    """The object the elements of a list field hold, and how many lists deep (``[[{…}]]``: 2)."""
    schema = _resolved(schema, defs)
    for option in schema.get("anyOf", [schema]):
        option = _resolved(option, defs)
        if option.get("type") == "array":
            items = _resolved(option.get("items", {}), defs)
            inner = _items_of(items, defs)
            if inner is not None:
                return inner[0], inner[1] + 1
            found = _object_of(items, defs)
            return None if found is None else (found, 1)
    return None


# How deep the attack looks for ids in a body's objects (``{"order": {"lines": [{…}]}}``).
_BODY_DEPTH = 6


def _body_ids(
    schema: Mapping[str, Any],
    defs: Mapping[str, Any],
    body: dict[str, Any],
    prefix: str = "",
    depth: int = 0,
) -> dict[str, str]:
    """The fields of a JSON body that name objects, by kind, at the top (``source_id``), in
    its objects (``pin.note_id``) and in its lists' objects (``parts[].note_id``,
    ``groups[][].note_id``). ``body``, the example sent, gets an object or a list of one on
    the way to each nested id: every request of the operation carries them, whichever ids."""
    props = _resolved(schema, defs).get("properties", {})
    found = {}
    for name, prop in props.items():
        prop = _resolved(prop, defs)
        kind = _kind(prop)
        if (_ID_NAME.search(name) and not kind.endswith("[]")) or (
            _IDS_NAME.search(name) and kind.endswith("[]") and not kind.startswith("str")
        ):
            found[prefix + name] = kind
            continue
        inner, lists = _object_of(prop, defs), 0
        if inner is None and (items := _items_of(prop, defs)) is not None:
            inner, lists = items
        if inner is None or depth >= _BODY_DEPTH:
            continue
        place = _first(body.get(name), lists)
        made = place is None
        if made:
            place = _as_object(_example(inner, defs))
        nested = _body_ids(inner, defs, place, f"{prefix}{name}{'[]' * lists}.", depth + 1)
        if nested and made:
            value: Any = place
            for _ in range(lists):
                value = [value]
            body[name] = value
        found.update(nested)
    return found


def _first(value: Any, lists: int) -> Any:
    """The first object ``lists`` lists deep in ``value`` (``[[{…}]]``; 0: ``value`` itself),
    or None."""
    for _ in range(lists):
        if not (isinstance(value, list) and value):
            return None
        value = value[0]
    return value if isinstance(value, dict) else None


def _as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _put(body: dict[str, Any], path: str, value: object) -> None:
    """Set the field at ``path`` (``parts[].note_id``) of a body :func:`_body_ids` saw."""
    *steps, leaf = path.split(".")
    here = body
    for step in steps:
        here = _first(here[step.replace("[]", "")], step.count("[]"))
    here[leaf] = value


def _is_text(schema: Mapping[str, Any]) -> bool:
    """A free-text parameter: a string of no format and no fixed values."""
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    return (
        len(options) == 1
        and options[0].get("type") == "string"
        and not ({"format", "enum", "pattern", "const"} & set(options[0]))
    )


def route_table(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document plus every route it leaves out (HTML pages, health,
    the platform admin's API).

    A route left out of the published schema is still reachable, so it is attacked.
    """
    spec = copy.deepcopy(app.openapi())
    published = spec.get("paths", {})
    hidden = [
        APIRoute(r.path_format, r.endpoint, methods=sorted(r.methods or ()))
        for r in api_routes(app)
        if not r.include_in_schema
        or any(m.lower() not in published.get(r.path_format, {}) for m in r.methods or ())
    ]
    with warnings.catch_warnings():
        # Hidden routes may share a function across methods (duplicate operation ids):
        # harmless here, the ids are not used.
        warnings.simplefilter("ignore")
        extra = get_openapi(title=app.title, version=app.version, routes=hidden)
    for path, methods in extra.get("paths", {}).items():
        spec.setdefault("paths", {}).setdefault(path, {}).update(methods)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in extra.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(name, schema)
    return spec


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app, read from its route table (:func:`route_table`)."""
    spec = route_table(app)
    defs = spec.get("components", {}).get("schemas", {})
    found: list[Operation] = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = op.get("parameters", [])
            in_path = {
                p["name"]: _kind(p.get("schema", {}))
                for p in params
                if p.get("in") == "path" and not _bounded(p.get("schema", {}))
            }
            path_values = {
                p["name"]: _example(p.get("schema", {}), defs)
                for p in params
                if p.get("in") == "path" and _bounded(p.get("schema", {}))
            }
            in_query = [p for p in params if p.get("in") == "query"]
            query_ids = {
                p["name"]: _kind(p.get("schema", {}))
                for p in in_query
                if _ID_NAME.search(p["name"]) and not _BOUND_NAME.match(p["name"])
            }
            query = {
                p["name"]: _example(p.get("schema", {}), defs)
                for p in in_query
                if p.get("required") and p["name"] not in query_ids
            }
            text = tuple(n for n in query if _is_text(_resolved(_param(in_query, n), defs)))
            headers = {
                p["name"]: str(_example(p.get("schema", {}), defs))
                for p in params
                if p.get("in") == "header" and p.get("required")
            }
            body, body_ids = None, {}
            for media in op.get("requestBody", {}).get("content", {}).values():
                body = _example(media.get("schema", {}), defs, every=True)
                if isinstance(body, dict):
                    body_ids = _body_ids(media.get("schema", {}), defs, body)
                break
            order = sorted(in_path, key=lambda name: path.find("{" + name + "}"))
            found.append(
                Operation(
                    method.upper(),
                    path,
                    {name: in_path[name] for name in order},
                    body,
                    query_ids=query_ids,
                    body_ids=body_ids,
                    query=query,
                    query_text=text,
                    headers=headers,
                    path_values=path_values,
                )
            )
    return found


def _bounded(schema: Mapping[str, Any]) -> bool:
    """A number too small to be a row's id (a year, a month): at most 2**31 - 1."""
    options = schema.get("anyOf", [schema])
    return any(o.get("maximum", 2**63) < 2**31 - 1 for o in options)


def _param(params: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next(p.get("schema", {}) for p in params if p["name"] == name)


def object_routes(app: FastAPI) -> list[Operation]:
    """Operations that take an id (in the path, the query or the body): they reach one object."""
    return [op for op in operations(app) if op.takes_ids]


def collection_routes(app: FastAPI) -> list[Operation]:
    """GET operations without path parameters: lists, dashboards, exports."""
    return [op for op in operations(app) if op.is_list]


def write_routes(app: FastAPI) -> list[Operation]:
    """POST, PUT, PATCH and DELETE operations without path parameters."""
    return [op for op in operations(app) if op.is_write]


# An id for each of an operation's slots.
Filling = Mapping[Slot, object]


def filled(op: Operation, by_kind: Mapping[str, object]) -> dict[Slot, object]:
    """Each of ``op``'s slots given the value of its kind (a list of it for a list kind)."""
    return {
        slot: [by_kind[kind[:-2]]] if kind.endswith("[]") else by_kind[kind]
        for slot, kind in op.slots().items()
    }


@dataclass(frozen=True)
class _Request:
    """What was sent: the finding quotes it."""

    method: str
    url: str
    body: Any

    def __str__(self) -> str:
        sent = f"{self.method} {self.url}"
        return f"{sent} {json.dumps(self.body, default=str)}" if self.body is not None else sent


def request_of(op: Operation, filling: Filling) -> _Request:
    """``op`` with the ids of ``filling`` (its path's all; its query's and its body's when
    given), its other parameters as examples."""
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", str(filling[("path", name)]))
    for name, value in op.path_values.items():
        path = path.replace("{" + name + "}", str(value))
    given = {name: value for (where, name), value in filling.items() if where == "query"}
    query = {**op.query, **{name: str(value) for name, value in given.items()}}
    body = op.body if op.method in _MUTATING else None
    if isinstance(body, dict):
        body = copy.deepcopy(body)
        for (where, name), value in filling.items():
            if where == "body":
                _put(body, name, _json(value, op.body_ids[name]))
    return _Request(op.method, f"{path}?{urlencode(query)}" if query else path, body)


def send(client: Any, op: Operation, filling: Filling, headers: Mapping[str, str]) -> Any:
    """``op`` requested with the ids of ``filling`` (:func:`request_of`)."""
    return deliver(client, op, request_of(op, filling), headers)


def deliver(client: Any, op: Operation, sent: _Request, headers: Mapping[str, str]) -> Any:
    """Send a request made by :func:`request_of`, with ``op``'s required headers."""
    return client.request(sent.method, sent.url, json=sent.body, headers={**op.headers, **headers})


def _json(value: object, kind: str) -> object:
    if isinstance(value, list):
        return [_json(v, kind.removesuffix("[]")) for v in value]
    return value if kind == "int" and isinstance(value, int) else str(value)


# The ids a write that names no object is sent with: its example body's own.
EXAMPLE: Mapping[str, object] = {"int": 1, "uuid": uuid.UUID(int=1), "str": "1", "text": "attack"}
