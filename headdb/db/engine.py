"""Which database to use, connection settings per backend, and headdb's writer lock.

Writers serialise on the database's own lock, so that concurrent headdb processes never
interleave their read-then-write transactions (and so never store duplicates or fail on unique
keys):

- SQLite: every transaction is begun by SQLAlchemy rather than by the sqlite3 driver (whose legacy
  mode runs reads outside any transaction); a writer's transaction starts with ``BEGIN
  IMMEDIATE``, which takes the database's write lock before the first read. Another writer waits
  for it (``busy_timeout``) instead of failing.
- PostgreSQL: a writer's transaction first takes a transaction-level advisory lock
  (``pg_advisory_xact_lock``), released by its commit or rollback; readers are never blocked.

Either way a writer waits at most ``WRITE_LOCK_TIMEOUT_S`` and then fails with an
``OperationalError`` that ``describe_database_error`` turns into one line. Other backends get no
lock. Use ``write_session(engine)`` for every write; keep slow work (loading files, running
models) outside it, so the lock is held only while writing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from headdb.errors import DatabaseAccessError
from headdb.text import one_line

DEFAULT_URL = "sqlite:///headdb.sqlite"
URL_ENV = "HEADDB_URL"

WRITE_LOCK_TIMEOUT_S = 60  # how long a writer waits for another one before giving up
CONNECT_TIMEOUT_S = 10  # how long to wait for a database server that does not answer
# The advisory-lock key of headdb's writers: any constant shared by all of them ("headdb").
ADVISORY_LOCK_KEY = int.from_bytes(b"headdb", "big")
_WRITER_OPTION = "headdb_writer"


def resolve_url(url: str | None = None) -> str:
    """The database URL: an explicit one, else ``$HEADDB_URL``, else ``headdb.sqlite`` here."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        # The message would repeat the URL, password and all: say what is expected instead.
        raise DatabaseAccessError(
            "bad database URL: expected dialect[+driver]://user:password@host/database "
            "or sqlite:///path/to/file.sqlite"
        ) from None


def create_db_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see ``resolve_url``), set up for headdb's transactions and locks.

    Raises ``DatabaseAccessError`` for a malformed URL, an unknown dialect or a missing driver."""
    parsed = _parse_url(resolve_url(url))
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(parsed, **options)
    except ArgumentError as exc:  # e.g. an unknown dialect
        raise DatabaseAccessError(f"bad database URL: {one_line(str(exc), 200)}") from None
    except ImportError as exc:
        raise DatabaseAccessError(
            f"the database driver for {parsed.drivername!r} is not installed ({exc}); "
            "PostgreSQL needs `pip install 'psycopg[binary]'` and a URL postgresql+psycopg://..."
        ) from None
    if engine.dialect.name == "sqlite":
        _set_up_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _set_up_postgresql(engine)
    return engine


def _set_up_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # SQLAlchemy, not the driver, begins transactions (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores foreign keys unless asked
        cursor.execute(f"PRAGMA busy_timeout={WRITE_LOCK_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        writer = connection.get_execution_options().get(_WRITER_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _set_up_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.get_execution_options().get(_WRITER_OPTION):
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{WRITE_LOCK_TIMEOUT_S}s'")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")


def writer_engine(engine: Engine) -> Engine:
    """``engine`` whose every transaction holds headdb's writer lock from its first statement.

    For code that manages its own transactions on an engine (Alembic's migrations); everything
    else uses ``write_session``."""
    return engine.execution_options(**{_WRITER_OPTION: True})


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one transaction that holds headdb's writer lock throughout.

    The transaction begins (and the lock is taken, waiting for any other writer) on entry, and
    commits on a normal exit or rolls back on an exception, releasing the lock either way.
    Reads inside see everything earlier writers committed, so read-then-write logic such as
    "insert unless present" is safe against concurrent headdb processes::

        with write_session(db.engine) as session:
            ...  # query, add, flush

    Do the slow part of a job (parsing, model forward passes) before entering, not inside."""
    with Session(writer_engine(engine)) as session, session.begin():
        yield session


# -- errors ---------------------------------------------------------------------------------

_HINTS = (
    (("database is locked", "lock timeout", "could not obtain lock"),
     "the database is busy: another process kept writing longer than headdb waits; try again when it has finished"),
    (("readonly database", "read-only"), "the database is read-only"),
    (("database or disk is full", "no space left", "disk full"), "the disk holding the database is full"),
    (("unable to open database file",), "cannot open the SQLite database file: does its directory exist, and may it be written?"),
    (("connection refused", "could not connect", "connection failed", "timeout expired", "could not translate host"),
     "cannot connect to the database server"),
    (("password authentication failed", "authentication failed"), "the database server refused the login"),
    (("file is not a database",), "the file is not an SQLite database"),
)


def describe_database_error(exc: DBAPIError) -> str:
    """One line for an error the database reported: what it means, then the driver's words."""
    detail = one_line(str(exc.orig) if exc.orig is not None else str(exc), 300)
    lowered = detail.lower()
    hint = next((text for needles, text in _HINTS if any(n in lowered for n in needles)), "database error")
    return f"{hint} ({detail})"
