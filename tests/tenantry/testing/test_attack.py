"""The attack's verdicts: a victim's id answered like a missing one passes, anything else is found.

Each probe route below answers a victim's id in one way; the shipped ``tenantry_attack``
walks them all, and each test reads the findings of its own route.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import delete, func, select, text, update

from tenantry.db import Database
from tenantry.errors import NotFound
from tenantry.models import Base, User
from tenantry.scoping import unscoped
from tenantry.security.passwords import Passwords
from tenantry.testing import scoping_switched_off
from tenantry.web import DbSession, Tenancy, TenancyConfig, ViewerContext
from tests.notes_app import AppComment, AppNote

probe = APIRouter(prefix="/probe")


@probe.delete("/{note_id}/wipe", status_code=204)
def wipe(note_id: int, ctx: ViewerContext, session: DbSession) -> Response:
    """Deletes across tenants, first in the walk: the routes after it must still be attacked
    with the victim's rows in place (``/exists`` below is found only if they are)."""
    with unscoped(session, reason="test: a route that deletes across tenants") as everyone:
        everyone.execute(delete(AppComment).where(AppComment.note_id == note_id))
        everyone.execute(delete(AppNote).where(AppNote.id == note_id))
    return Response(status_code=204)


@probe.get("/{note_id}/comments")
def comment_ids(note_id: int, ctx: ViewerContext, session: DbSession) -> list[int]:
    """Ids only, no marker: only the answer's body can tell a leak."""
    return list(session.scalars(select(AppComment.id).where(AppComment.note_id == note_id)))


@probe.get("/{note_id}/summary")
def summary(note_id: int, ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """Echoes the id it was asked for, as many APIs do."""
    count = select(func.count()).select_from(AppComment).where(AppComment.note_id == note_id)
    return {"note_id": note_id, "comments": session.scalar(count) or 0}


@probe.get("/{note_id}/exists")
def exists(note_id: int, ctx: ViewerContext, session: DbSession) -> dict[str, bool]:
    """Looks across tenants: answers 200 for another tenant's note, 404 for a missing one."""
    with unscoped(session, reason="test: a route that looks across tenants") as everyone:
        if everyone.scalar(select(AppNote.id).where(AppNote.id == note_id)) is None:
            raise NotFound("note not found")
    return {"exists": True}


@probe.get("/{note_id}/ticks")
def ticks(note_id: int, ctx: ViewerContext, session: DbSession) -> dict[str, object]:
    """Answers with the time it answered: no two bodies alike, for any id."""
    count = select(func.count()).select_from(AppComment).where(AppComment.note_id == note_id)
    return {"at": time.monotonic_ns(), "comments": session.scalar(count) or 0}


@probe.put("/{note_id}/stamp", status_code=204)
def stamp(note_id: int, ctx: ViewerContext, session: DbSession) -> Response:
    """Writes across tenants and answers 204 either way: only the victim's rows can tell."""
    with unscoped(session, reason="test: a route that writes across tenants") as everyone:
        everyone.execute(
            update(AppComment).where(AppComment.note_id == note_id).values(text="stamped")
        )
    return Response(status_code=204)


@probe.put("/{user_id}/rename", status_code=204)
def rename(user_id: int, ctx: ViewerContext, session: DbSession) -> Response:
    """Renames anyone's account (not a tenant table) and answers 204 either way."""
    session.execute(update(User).where(User.id == user_id).values(display_name="renamed"))
    return Response(status_code=204)


@probe.post("/housekeeping", status_code=204)
def housekeeping(ctx: ViewerContext, session: DbSession) -> Response:
    """Names no object and rewrites every tenant's notes; it comes after the core's
    ``POST /api/auth/logout/everywhere`` in the walk, which ends the attacker's session."""
    with unscoped(session, reason="test: a write that reaches every tenant") as everyone:
        everyone.execute(update(AppNote).values(body="tidied"))
    return Response(status_code=204)


@probe.get("/raw/{note_id}/comments/{comment_id}")
def raw_comment(note_id: int, comment_id: int, ctx: ViewerContext, session: DbSession) -> str:
    """A nested lookup in raw SQL, no tenant in it: a real pair of another tenant's rows
    (a note and its comment) is found, one id in both paths matches nothing."""
    found = session.scalar(
        text("SELECT text FROM app_comments WHERE note_id = :n AND id = :c"),
        {"n": note_id, "c": comment_id},
    )
    if found is None:
        raise NotFound("comment not found")
    return str(found)


@probe.get("/mine/{note_id}/comments/{comment_id}")
def own_note_any_comment(
    note_id: int, comment_id: int, ctx: ViewerContext, session: DbSession
) -> str:
    """Checks the note is the caller's (the ORM's wall), then reads the comment by its id
    alone in raw SQL: the caller's own note with another tenant's comment reads it."""
    if session.scalar(select(AppNote.id).where(AppNote.id == note_id)) is None:
        raise NotFound("note not found")
    found = session.scalar(text("SELECT text FROM app_comments WHERE id = :c"), {"c": comment_id})
    if found is None:
        raise NotFound("comment not found")
    return "a comment"  # no marker: only the status tells


@probe.get("/{note_id}/by-key")
def by_bare_key(note_id: int, ctx: ViewerContext, session: DbSession) -> dict[str, bool]:
    """``session.get`` with the id alone, where the key is (tenant_id, id): fails for any id."""
    return {"found": session.get(AppNote, note_id) is not None}


@probe.get("/lookup")
def lookup(ctx: ViewerContext, session: DbSession, note_id: int, q: str) -> dict[str, bool]:
    """The id in the query string, a required search term beside it."""
    found = session.scalar(text("SELECT 1 FROM app_notes WHERE id = :n"), {"n": note_id})
    if found is None:
        raise NotFound("note not found")
    return {"found": True}


class CopyIn(BaseModel):
    source_id: int
    title: str


@probe.post("/copies", status_code=201)
def copy_note(body: CopyIn, ctx: ViewerContext, session: DbSession) -> dict[str, bool]:
    """The id in the JSON body, read across tenants."""
    found = session.scalar(text("SELECT 1 FROM app_notes WHERE id = :n"), {"n": body.source_id})
    if found is None:
        raise NotFound("note not found")
    return {"copied": True}


class PartIn(BaseModel):
    note_id: int
    weight: int = 1


class BundleIn(BaseModel):
    title: str
    parts: list[PartIn]


@probe.post("/bundles", status_code=201)
def bundle(body: BundleIn, ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """Ids in the objects of a list in the body, each read across tenants."""
    for part in body.parts:
        found = session.scalar(text("SELECT 1 FROM app_notes WHERE id = :n"), {"n": part.note_id})
        if found is None:
            raise NotFound("note not found")
    return {"parts": len(body.parts)}


@probe.post("/own-bundles", status_code=201)
def own_bundle(body: BundleIn, ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """The same, each note looked up through the ORM's wall: the victim's is missing."""
    for part in body.parts:
        if session.scalar(select(AppNote.id).where(AppNote.id == part.note_id)) is None:
            raise NotFound("note not found")
    return {"parts": len(body.parts)}


class ShelfIn(BaseModel):
    rows: list[list[PartIn]]


@probe.post("/shelves", status_code=201)
def shelf(body: ShelfIn, ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """Ids in a list of lists of objects, read across tenants."""
    for row in body.rows:
        for part in row:
            note = {"n": part.note_id}
            if session.scalar(text("SELECT 1 FROM app_notes WHERE id = :n"), note) is None:
                raise NotFound("note not found")
    return {"rows": len(body.rows)}


class PinIn(BaseModel):
    note_id: int


class BoardIn(BaseModel):
    name: str
    pin: PinIn | None = None


@probe.put("/board", status_code=204)
def board(body: BoardIn, ctx: ViewerContext, session: DbSession) -> Response:
    """An id in an optional object of the body, read across tenants."""
    if body.pin is not None:
        note = {"n": body.pin.note_id}
        if session.scalar(text("SELECT 1 FROM app_notes WHERE id = :n"), note) is None:
            raise NotFound("note not found")
    return Response(status_code=204)


class QuoteIn(BaseModel):
    note_id: int
    comment_id: int


@probe.post("/quotes", status_code=201)
def quote(body: QuoteIn, ctx: ViewerContext, session: DbSession) -> dict[str, bool]:
    """Looks its note up through the ORM's wall first, then reads the comment by its id
    alone in raw SQL: the victim's ids in both are stopped at the note, the caller's own
    note with the victim's comment reads it."""
    if session.scalar(select(AppNote.id).where(AppNote.id == body.note_id)) is None:
        raise NotFound("note not found")
    comment = {"c": body.comment_id}
    if session.scalar(text("SELECT 1 FROM app_comments WHERE id = :c"), comment) is None:
        raise NotFound("comment not found")
    return {"quoted": True}


@probe.post("/own-quotes", status_code=201)
def own_quote(body: QuoteIn, ctx: ViewerContext, session: DbSession) -> dict[str, bool]:
    """The same, both looked up through the ORM's wall."""
    if session.scalar(select(AppNote.id).where(AppNote.id == body.note_id)) is None:
        raise NotFound("note not found")
    if session.scalar(select(AppComment.id).where(AppComment.id == body.comment_id)) is None:
        raise NotFound("comment not found")
    return {"quoted": True}


@probe.get("/stats")
def stats(ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """A count over every tenant: no marker, no id, only the number moves."""
    return {"notes": session.scalar(text("SELECT count(*) FROM app_notes")) or 0}


@probe.get("/own-stats")
def own_stats(ctx: ViewerContext, session: DbSession) -> dict[str, int]:
    """The caller's own count (the ORM's wall): the victim's rows do not move it."""
    return {"notes": session.scalar(select(func.count()).select_from(AppNote)) or 0}


@pytest.fixture
def tenantry_app(
    tenantry_database_url: str, tenantry_config: TenancyConfig, tenantry_passwords: Passwords
) -> Iterator[FastAPI]:
    """The probe routes on the plugin's database (the notes app's tables for the victim's ids)."""
    db = Database(tenantry_database_url)
    Base.metadata.create_all(db.engine)
    app = FastAPI()
    Tenancy(db, tenantry_config, passwords=tenantry_passwords).install(app)
    app.include_router(probe)
    yield app
    db.dispose()


def _of(where: str, findings: list[str]) -> list[str]:
    """The findings about one route (``"GET /probe/{note_id}/comments"``), without the
    request each quotes (``test_a_finding_quotes_a_request_that_shows_it``)."""
    return [f.split(" (sent: ", 1)[0] for f in findings if re.match(rf"{re.escape(where)}[ :]", f)]


def test_an_answer_equal_to_a_missing_ids_is_no_finding(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    assert _of("GET /probe/{note_id}/comments", findings) == [], findings


def test_an_id_echoed_in_the_answer_is_no_finding(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    assert _of("GET /probe/{note_id}/summary", findings) == [], findings


def test_a_victims_rows_in_a_2xx_answer_are_found(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    # Without the ORM's wall the victim's note lists its comments' ids; a missing note, none.
    findings = tenantry_attack(during=scoping_switched_off)
    assert _of("GET /probe/{note_id}/comments", findings) == [
        "GET /probe/{note_id}/comments: a victim id and a missing id both answered 200, "
        "with different bodies"
    ]
    assert _of("GET /probe/{note_id}/summary", findings)


def test_a_body_that_changes_at_each_request_is_judged_by_its_status(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    """Two answers for the same missing id differ already: the bodies tell nothing."""
    assert _of("GET /probe/{note_id}/ticks", tenantry_attack()) == []


def test_a_2xx_for_a_victim_id_and_a_404_for_a_missing_one_is_found(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    assert _of("GET /probe/{note_id}/exists", findings) == [
        "GET /probe/{note_id}/exists with a victim id answered 200, a missing id 404"
    ]


@pytest.mark.parametrize(
    "route",
    ["PUT /probe/{note_id}/stamp", "PUT /probe/{user_id}/rename"],  # its rows; its accounts
)
def test_a_write_to_the_victims_data_is_found_though_answered_alike(
    tenantry_attack: Callable[..., list[str]], route: str
) -> None:
    assert _of(route, tenantry_attack()) == [f"{route} changed the victim's data"]


def test_a_route_that_deletes_the_victims_rows_hides_nothing_after_it(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    assert _of("DELETE /probe/{note_id}/wipe", findings) == [
        "DELETE /probe/{note_id}/wipe changed the victim's data"
    ]
    assert _of("GET /probe/{note_id}/exists", findings)  # attacked with the rows put back


def test_a_write_that_names_no_object_is_attacked_too(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    """After a route that ended the attacker's session, a new attacker goes on."""
    findings = tenantry_attack()
    assert _of("POST /probe/housekeeping", findings) == [
        "POST /probe/housekeeping changed the victim's data"
    ]
    assert not [f for f in findings if "ended the attacker's access" in f], findings


def test_each_finding_is_reported_once(tenantry_attack: Callable[..., list[str]]) -> None:
    findings = tenantry_attack(during=scoping_switched_off)
    assert findings and len(findings) == len(set(findings)), findings


@pytest.mark.parametrize(
    ("route", "what"),
    [
        ("GET /probe/raw/{note_id}/comments/{comment_id}", "the victim's ids"),
        ("GET /probe/mine/{note_id}/comments/{comment_id}", "its own parent and a victim's child"),
        ("GET /probe/lookup", "a victim id"),
        ("POST /probe/copies", "a victim id"),
        ("POST /probe/bundles", "a victim id"),  # {"parts": [{"note_id": …}]}
        ("PUT /probe/board", "a victim id"),  # {"pin": {"note_id": …}}
        ("POST /probe/quotes", "its own ids and a victim id in comment_id"),
        ("POST /probe/shelves", "a victim id"),  # {"rows": [[{"note_id": …}]]}
    ],
)
def test_ids_in_nested_paths_the_query_and_the_body_are_attacked(
    tenantry_attack: Callable[..., list[str]], route: str, what: str
) -> None:
    status = {"POST": 201, "PUT": 204}.get(route.split()[0], 200)
    findings = _of(route, tenantry_attack())
    assert f"{route} with {what} answered {status}, a missing id 404" in findings, findings


def test_ids_in_a_bodys_objects_looked_up_through_the_orm_are_no_finding(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    assert _of("POST /probe/own-bundles", findings) == []
    assert _of("POST /probe/own-quotes", findings) == []


def test_a_count_over_every_tenant_is_found(tenantry_attack: Callable[..., list[str]]) -> None:
    findings = tenantry_attack()
    assert _of("GET /probe/stats", findings) == [
        "GET /probe/stats answered differently once the victim had more rows"
    ]
    assert _of("GET /probe/own-stats", findings) == []


def test_a_route_that_fails_is_a_finding_and_the_walk_goes_on(
    tenantry_attack: Callable[..., list[str]],
) -> None:
    findings = tenantry_attack()
    failed = _of("GET /probe/{note_id}/by-key", findings)
    assert len(failed) == 1 and "failed (InvalidRequestError: " in failed[0], findings
    assert _of("GET /probe/{note_id}/exists", findings)  # attacked all the same
