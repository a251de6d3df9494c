"""``Input``: what an app's request bodies refuse, wherever the text sits in them."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from tenantry.web import Input


class Address(BaseModel):  # an app's nested model, not itself an Input
    street: str


class TaskIn(Input):
    title: str
    labels: list[str] = []
    fields: dict[str, str] = {}
    address: Address | None = None
    note: str | None = None


@pytest.mark.parametrize(
    "body",
    [
        {"title": "a\x00b"},
        {"title": "ok", "note": "a\x00b"},
        {"title": "ok", "labels": ["fine", "a\x00b"]},
        {"title": "ok", "fields": {"colour": "a\x07b"}},
        {"title": "ok", "fields": {"a\x00b": "red"}},
        {"title": "ok", "address": {"street": "a\x00b"}},
    ],
    ids=["field", "optional", "list", "dict value", "dict key", "nested model"],
)
def test_control_characters_are_refused_wherever_they_are(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="control characters are not allowed"):
        TaskIn.model_validate(body)


def test_tabs_and_line_breaks_pass() -> None:
    body = TaskIn.model_validate({"title": "a\tb", "labels": ["x\ny"], "fields": {"k": "v\r\n"}})
    assert body.labels == ["x\ny"]


def test_an_optional_text_too_long_is_said_in_characters() -> None:
    from tenantry.web.schemas import RegisterIn

    with pytest.raises(ValidationError) as refused:
        RegisterIn(email="a@example.com", password="x", tenant_name="n" * 201)
    (error,) = refused.value.errors()
    assert error["msg"] == "String should have at most 200 characters"
    assert RegisterIn(email="a@example.com", password="x").tenant_name is None
