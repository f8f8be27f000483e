"""Alembic environment: run every layer's branch against the engine `crib.storage` hands in."""
from alembic import context

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    context.run_migrations()
