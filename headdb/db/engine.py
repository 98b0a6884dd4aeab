"""Engine creation: which database to use, and connection settings per backend."""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event

DEFAULT_URL = "sqlite:///headdb.sqlite"
URL_ENV = "HEADDB_URL"


def resolve_url(url: str | None = None) -> str:
    """The database URL: an explicit one, else ``$HEADDB_URL``, else ``headdb.sqlite`` here."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def create_db_engine(url: str | None = None) -> Engine:
    engine = create_engine(resolve_url(url))
    if engine.dialect.name == "sqlite":
        # SQLite ignores foreign keys unless asked, per connection.
        @event.listens_for(engine, "connect")
        def _enable_foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine
