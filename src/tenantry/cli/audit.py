"""``tenantry audit prune``: delete audit events older than the retention period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

audit_app = typer.Typer(help="The audit trail: retention.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("prune")
def prune(
    database_url: str = typer.Option(..., "--db", envvar="DATABASE_URL", help="Database URL."),
    days: int = typer.Option(
        365,
        "--days",
        envvar="TENANTRY_AUDIT_RETENTION_DAYS",
        min=1,
        max=36_500,
        help="Keep this many days of events (the retention setting).",
    ),
    apply: bool = typer.Option(False, "--apply", help="Delete; without it, only count."),
) -> None:
    """Count (or with --apply delete) the events older than --days."""
    from tenantry import audit
    from tenantry.cli.admin import session_of

    with session_of(database_url, "audit prune") as session:
        n = audit.prune(
            session, older_than=timedelta(days=days), now=datetime.now(UTC), apply=apply
        )
    if apply:
        typer.echo(f"deleted {n} audit events older than {days} days")
    else:
        typer.echo(f"{n} audit events are older than {days} days; --apply deletes them")
