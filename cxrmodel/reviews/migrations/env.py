"""Alembic environment of the review database: run by :func:`cxrmodel.reviews.database.open_database`.

The caller passes an open SQLAlchemy connection in ``config.attributes["connection"]``; there is no alembic.ini
and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from cxrmodel.reviews.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the review migrations run through cxrmodel.reviews.database.open_database, "
                       "which passes a connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
