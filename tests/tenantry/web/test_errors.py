"""Every failure is JSON with a code and a message; no input produces a 500."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool
from starlette.types import Message

from tenantry.errors import NoTenantContext
from tenantry.web.errors import install_error_handlers
from tenantry.web.observe import CLIENT_CLOSED_REQUEST
from tests.conftest import Member


def test_body_over_the_limit_is_413(client: TestClient, alice: Member) -> None:
    response = client.post(
        "/api/notes",
        content=b'{"body": "' + b"x" * 2_000_000 + b'"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_chunked_body_over_the_limit_is_413(client: TestClient, alice: Member) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    response = client.post("/api/notes", content=chunks(), headers=alice.headers)
    assert response.status_code == 413


def test_validation_names_the_field(client: TestClient, alice: Member) -> None:
    response = client.post("/api/notes", json={"body": ""}, headers=alice.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["fields"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({}, "name: is required"),
        ({"name": ""}, "name: must not be empty"),
        ({"name": "n" * 201}, "name: has at most 200 characters"),
        ({"name": "Home", "kind": "castle"}, "kind: must be one of 'personal', 'family'"),
        ({"name": 5}, "name: must be text"),
    ],
)
def test_a_refused_field_is_said_in_the_words_the_domain_uses(
    client: TestClient, alice: Member, body: dict[str, object], said: str
) -> None:
    """Pydantic's "String should have at most 200 characters" beside the domain's own
    "note: has at most 2000 characters": one voice for every refusal a person reads."""
    response = client.post("/api/tenants", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(said), response.text


def test_tenant_id_in_a_body_is_refused(client: TestClient, alice: Member, bob: Member) -> None:
    response = client.post(
        "/api/notes", json={"body": "x", "tenant_id": bob.tenant_id}, headers=alice.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "tenant_id"


def test_malformed_json_and_wrong_types_are_422(client: TestClient, alice: Member) -> None:
    broken = client.post(
        "/api/notes",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    error = broken.json()["error"]
    assert error["details"]["field"] == "body"
    assert error["message"].startswith("body: not valid JSON at character 1: Expecting")
    wrong = client.get("/api/notes/not-a-number", headers=alice.headers)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"]["fields"][0]["field"] == "note_id"


def test_unknown_route_and_method_have_the_error_shape(client: TestClient) -> None:
    assert client.get("/api/nothing-here").json()["error"]["code"] == "not_found"
    assert client.put("/api/me").json()["error"]["code"] == "method_not_allowed"


def test_the_413_is_answered_by_the_app_s_own_handler(client: TestClient, alice: Member) -> None:
    """A UI's handler for PayloadTooLarge (its error page) answers the middleware's refusal."""
    from starlette.responses import PlainTextResponse

    from tenantry.errors import PayloadTooLarge

    default = client.post("/api/notes", content=b"x" * 2_000_000, headers=alice.headers)
    assert default.json()["error"]["details"] == {"limit_bytes": 1_048_576}

    def page(request: Request, exc: Exception) -> PlainTextResponse:
        assert isinstance(exc, PayloadTooLarge)
        return PlainTextResponse(f"too large for {request.url.path}", status_code=exc.status)

    client.app.add_exception_handler(PayloadTooLarge, page)  # type: ignore[attr-defined]
    response = client.post("/api/notes", content=b"x" * 2_000_000, headers=alice.headers)
    assert response.status_code == 413
    assert response.text == "too large for /api/notes"


@pytest.mark.anyio
async def test_a_body_whose_client_left_is_a_499_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request that waited its turn reads its body after the client gave up: Starlette
    raises ClientDisconnect. Not the server's fault: no 500, no traceback in the log."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/upload", "raw_path": b"/upload",
        "query_string": b"", "headers": [(b"content-length", b"90000")], "root_path": "",
    }  # fmt: skip
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == CLIENT_CLOSED_REQUEST
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_pooled_connection_free_is_a_503_to_retry_not_a_500() -> None:
    """Found by an outside tester: requests beyond the pool waited its 30 s and got a 500."""
    engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=1, max_overflow=0,
                           pool_timeout=0.05)  # fmt: skip
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/query")
    def query() -> None:
        with engine.connect():
            pass

    with engine.connect(), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/query")
    engine.dispose()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "database_busy"
    assert answer.headers["retry-after"] == "2"


def test_our_own_fault_is_logged_with_its_route_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by an outside tester: a route querying with no tenant logged one line without
    the route or a traceback, though the docs promise the traceback."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/faulty")
    def faulty() -> None:
        raise NoTenantContext("a tenant table was queried with no tenant context")

    with caplog.at_level(logging.ERROR, logger="tenantry.web"):
        response = TestClient(app).get("/faulty")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "GET /faulty" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is NoTenantContext


WRITES = {
    "taken": "INSERT INTO parents VALUES (2, 'OPS-SECRET')",
    "missing": "INSERT INTO kids VALUES (1, 4242)",
}


def test_a_conflict_says_which_of_the_two_it_is_and_quotes_no_value(tmp_path: Path) -> None:
    """One message for two causes left a route unable to tell a taken value from a missing
    reference (an outside tester's "project key taken" against "no such project")."""
    engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys = ON"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parents (id INTEGER PRIMARY KEY, k TEXT UNIQUE)")
        conn.exec_driver_sql("CREATE TABLE kids (id INTEGER PRIMARY KEY, "
                             "parent_id INTEGER REFERENCES parents (id))")  # fmt: skip
        conn.exec_driver_sql("INSERT INTO parents VALUES (1, 'OPS-SECRET')")
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/{sql}")
    def write(sql: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(WRITES[sql])

    client = TestClient(app)
    taken, missing = client.post("/taken").json(), client.post("/missing").json()
    assert taken["error"]["code"] == missing["error"]["code"] == "conflict"
    assert taken["error"]["message"] == "a value that must be unique is taken (parents.k)"
    assert taken["error"]["details"] == {"constraint": "parents.k"}
    assert missing["error"]["message"] == "a row it refers to does not exist in this tenant"
    assert "OPS-SECRET" not in str(taken) and "4242" not in str(missing)
