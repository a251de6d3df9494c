"""Reports: the plan, the problems and the verification, as JSON and for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tenantry.migrate.errors import TenantizeError
from tenantry.migrate.plan import Plan
from tenantry.migrate.verify import Verification


def as_json(plan: Plan, verification: Verification | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"plan": plan.to_dict(), "new_addresses": plan.email_changes, **extra}
    if verification is not None:
        data["verification"] = {
            "ok": verification.ok,
            "checks": [
                {"name": c.name, "ok": c.ok, "detail": c.detail} for c in verification.checks
            ],
        }
    return data


def failure_json(error: str) -> dict[str, Any]:
    """The report of an --apply that stopped: the error, as printed (the state table and
    the dry run's status say how far it got)."""
    return {"status": "failed", "error": error}


def check_report_path(path: Path) -> None:
    """Refuse a report path that cannot be written before anything is changed: found only
    at the end, it turned a finished conversion into a failed-looking one (exit 1).

    Raises:
        TenantizeError: ``path`` is a directory, or its folder is missing or read-only.
    """
    if path.is_dir():
        raise TenantizeError(f"--report {path} is a directory: name a file; nothing was changed")
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):  # appends nothing: an existing file is kept
            pass
    except OSError as exc:
        raise TenantizeError(
            f"--report {path} cannot be written ({exc.strerror or exc}); nothing was changed"
        ) from None
    if not existed:
        path.unlink(missing_ok=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Raises:
    TenantizeError: the report could not be written (a full disk, say), said readably.
    """
    try:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise TenantizeError(
            f"the report could not be written to {path} ({exc.strerror or exc})"
        ) from None


def print_plan(console: Console, plan: Plan) -> None:
    tenants = (
        f"one tenant, owned by user {plan.single[0]}, the others its {plan.single[1]}s"
        if plan.single
        else "a tenant each, the user as owner"
    )
    console.print(
        f"[bold]tenantize plan[/] ({plan.dialect}): {plan.users} users from "
        f"{plan.users_table!r} -> {tenants}"
    )
    table = Table("table", "rows", "becomes", "ownership", "foreign keys", show_lines=False)
    for t in plan.tables:
        if t.is_global:
            table.add_row(t.name, f"{t.rows:,}", "global (unchanged)", "-", "-")
            continue
        fks = ", ".join(f"{r.column}:{r.fk}" for r in t.refs) or "-"
        key = ", ".join(["tenant_id", *t.primary_key])
        table.add_row(t.name, f"{t.rows:,}", f"PK ({key})", t.owner or "", fks)
    console.print(table)
    console.print(f"order: {' -> '.join(plan.order)}")
    for change in plan.email_changes:
        console.print(
            f"new address: user {change['user_id']} {escape(repr(change['legacy_email']))} "
            f"signs in as {escape(change['email'])} ({change['reason']})"
        )
    if plan.passwords:
        formats = ", ".join(f"{n} {kind}" for kind, n in plan.passwords.items())
        console.print(f"password hashes: {formats} (bcrypt and PBKDF2 become argon2 at sign-in)")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    print_problems(console, plan)


def print_problems(console: Console, plan: Plan) -> None:
    if not plan.problems:
        console.print("[green]no data problems found[/]")
        return
    table = Table("problem", "table", "rows", "policy", "detail", "examples")
    for p in plan.problems:
        style = "red" if p.blocking else "green"
        policy = f"[{style}]{p.policy}{' (stops)' if p.blocking else ''}[/]"
        table.add_row(
            p.kind, p.table, str(p.count), policy, escape(p.detail), escape("\n".join(p.samples))
        )
    console.print(table)
    if plan.blocking:
        console.print(
            f"[red bold]{len(plan.blocking)} problem(s) stop the conversion.[/] Nothing was "
            "changed. Give each a policy in \\[policies] (or fix the data) and run the dry run "
            "again; see docs/tenantize.md."
        )


def print_verification(console: Console, verification: Verification) -> None:
    table = Table("check", "result", "detail")
    for c in verification.checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAILED[/]", escape(c.detail))
    console.print(table)
    verdict = "[green bold]verified[/]" if verification.ok else "[red bold]verification FAILED[/]"
    console.print(verdict)
