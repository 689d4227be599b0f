"""Alembic migrations: every schema change of the database."""
