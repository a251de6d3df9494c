"""Entry point of the ``tenantry`` command; each group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tenantry",
    help="Multi-tenancy for FastAPI + SQLAlchemy apps: server, schema doctor, tenantize.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """tenantry: run the server, check a schema, convert a single-tenant database."""


def _register() -> None:
    """Attach every command group; imported lazily so ``--help`` stays fast."""
    from tenantry.cli import (
        admin,
        audit,
        doctor,
        migrate,
        migrations,
        placement,
        tenantize,
        tenants,
    )

    migrate.register(app)
    migrations.register(app)
    doctor.register(app)
    tenantize.register(app)
    tenants.register(app)
    placement.register(app)
    admin.register(app)
    audit.register(app)


_register()
if __name__ == "__main__":
    app()
