"""Alembic migrations driven from Python (``headdb db upgrade``), and the schema-version check.

Migrations run in one transaction that holds headdb's writer lock (``writer_engine``), so two
``headdb db upgrade`` at once run one after the other: the second finds the schema at head and
does nothing."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from headdb.db.engine import writer_engine
from headdb.errors import HeadDBError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class SchemaNotReadyError(HeadDBError, RuntimeError):
    """The database has no schema, or an older one than this headdb needs."""


def alembic_config(engine: Engine) -> Config:
    if not MIGRATIONS_DIR.is_dir():
        raise FileNotFoundError(
            f"Alembic migrations not found at {MIGRATIONS_DIR}; install headdb from a checkout "
            "(pip install -e .) so that migrations/ sits beside the package."
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # migrations/env.py runs everything in one `engine.begin()`: on this engine, that transaction
    # takes the writer lock first.
    config.attributes["engine"] = writer_engine(engine)
    return config


class MigrationError(HeadDBError):
    """Alembic refused the request, e.g. a revision that does not exist."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    try:
        command.upgrade(alembic_config(engine), revision)
    except CommandError as exc:
        raise MigrationError(f"cannot upgrade to {revision!r}: {exc}") from None


def downgrade(engine: Engine, revision: str) -> None:
    try:
        command.downgrade(alembic_config(engine), revision)
    except CommandError as exc:
        raise MigrationError(f"cannot downgrade to {revision!r}: {exc}") from None


@functools.cache
def head_revision() -> str:
    """The newest migration (read from migrations/ once per process)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_current(engine: Engine) -> None:
    """Raise a clear error unless the database schema is at the newest migration."""
    current = current_revision(engine)
    if current != head_revision():
        state = "has no headdb schema" if current is None else f"is at revision {current}"
        raise SchemaNotReadyError(
            f"The database {engine.url.render_as_string(hide_password=True)} {state}; "
            f"run `headdb db upgrade` to bring it to {head_revision()}."
        )
