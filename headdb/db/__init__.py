"""Database layer: ORM models, engine creation, the writer lock and Alembic migrations."""

from headdb.db.engine import DEFAULT_URL, create_db_engine, resolve_url, write_session, writer_engine
from headdb.db.migrate import SchemaNotReadyError, current_revision, downgrade, head_revision, upgrade
from headdb.db.models import Base

__all__ = [
    "DEFAULT_URL",
    "Base",
    "SchemaNotReadyError",
    "create_db_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "resolve_url",
    "upgrade",
    "write_session",
    "writer_engine",
]
