"""Alembic migrations of the core, and a runner that also applies plugins' migrations."""
