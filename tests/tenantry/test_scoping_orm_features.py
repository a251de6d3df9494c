"""SQLAlchemy features that reach tenant rows beside the loader criteria: each is scoped,
or refused, from a second tenant and with no tenant context (``tests/support/orm_features``
runs them in a process of its own, so their models stay out of the suite's ``Base``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("orm_features") / "features.sqlite3"
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.orm_features", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize(
    "case",
    [
        "with_expression",  # the expression is added after the criteria: B's docs counted
        "with_expression_shared_no_context",
        "full_join_to_tenant",  # ON keeps the joined side's unmatched rows: every tenant's
        "table_name_other_case",  # SQLite folds the case of names
        "table_name_other_case_no_context",
        "table_name_main_schema",  # and takes main. as no schema
        "shared_column_property_no_context",  # a shared class's column reading tenant rows
    ],
)
def test_an_unscoped_reach_is_refused(results: dict[str, Any], case: str) -> None:
    assert results[case] == "NoTenantContext"


def test_a_full_join_from_the_tenant_side_keeps_its_rows(results: dict[str, Any]) -> None:
    """The primary entity's criterion sits in WHERE, which a FULL JOIN does not undo."""
    assert results["full_join_from_tenant"] == ["A-doc-1", "A-doc-2"]
    assert sorted(results["full_join_object_to_tenant"]) == ["A-doc-1", "A-doc-2"]


def test_a_shared_class_column_reading_tenant_rows_is_scoped_in_a_tenant(
    results: dict[str, Any],
) -> None:
    assert results["shared_column_property"] == [["x", 2]]  # A's two docs of four


def test_joined_table_inheritance_is_scoped_not_refused(results: dict[str, Any]) -> None:
    assert results["joined_inheritance"] == ["A-car"]
    assert results["joined_inheritance_polymorphic"] == ["A-car"]


def test_a_lazy_load_inside_unscoped_of_an_object_loaded_in_scope(
    results: dict[str, Any],
) -> None:
    """It carries its scope's criterion: it gets the session's tenant, not a missing value."""
    assert results["unscoped_lazy_load"] == ["A-doc-1", "A-doc-2"]


def test_rows_loaded_inside_unscoped_leave_the_collections_too(results: dict[str, Any]) -> None:
    assert results["after_unscoped"] == ["A-doc-1", "A-doc-2"]
