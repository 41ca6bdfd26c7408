"""Alembic migration scripts of the gateway (package data, run by ``db.migrate``)."""
