"""The SQL store: the fleet register, governed transfers, tokens, what-if runs and the
hash-chained audit log. SQLAlchemy 2 over SQLite (default, a file) or PostgreSQL (by URL);
the schema is created and upgraded by Alembic migrations (``migrations/``)."""
