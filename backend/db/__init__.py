"""Persistence: SQLAlchemy models, repositories and Alembic migrations (no Flask needed)."""
