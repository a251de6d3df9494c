"""Ownership paths: a table owned through itself is a cycle, refused before any change."""

from __future__ import annotations

from pathlib import Path

from tests.migrate.test_sqlite_limits import legacy, mapping, tenantize

FOLDERS = (
    "CREATE TABLE folders (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES folders(id),"
    " user_id INTEGER REFERENCES users(id), name TEXT);"
    "INSERT INTO folders VALUES (1, NULL, 1, 'root'), (2, 1, 1, 'child')"
)


def test_a_table_owned_through_itself_is_a_cycle(tmp_path: Path) -> None:
    url = legacy(tmp_path, FOLDERS)
    toml = mapping(tmp_path, '[tables.folders]\nowner = "parent_id -> folders"\n')
    code, out = tenantize("--db", url, "--map", toml)
    assert code == 1, out
    assert "ownership paths form a cycle among: folders" in out
    assert 'owner = "user_id"' in out
    backup = tmp_path / "before.sqlite"
    code, out = tenantize("--db", url, "--map", toml, "--apply", "--quiet", "--backup", str(backup))
    assert code == 1 and "cycle" in out and not backup.exists()


def test_a_self_reference_beside_a_user_owner_converts(tmp_path: Path) -> None:
    url = legacy(tmp_path, FOLDERS)
    toml = mapping(
        tmp_path,
        '[tables.folders]\nowner = "user_id"\nreferences = ["parent_id -> folders"]\n',
    )
    code, out = tenantize("--db", url, "--map", toml)
    assert code == 0 and "no data problems found" in out, out
    code, out = tenantize(
        "--db", url, "--map", toml, "--apply", "--quiet", "--backup", str(tmp_path / "b.sqlite")
    )
    assert code == 0 and "verified" in out, out


def test_two_tables_owned_through_each_other_are_a_cycle(tmp_path: Path) -> None:
    url = legacy(
        tmp_path,
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER)",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER)",
    )
    toml = mapping(tmp_path, '[tables.a]\nowner = "b_id -> b"\n[tables.b]\nowner = "a_id -> a"\n')
    code, out = tenantize("--db", url, "--map", toml)
    assert code == 1 and "ownership paths form a cycle among: a, b" in out, out
