"""Alembic environment: runs migrations on the engine headdb hands over (or alembic's URL)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from headdb.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` CLI use
        engine = engine_from_config(
            config.get_section(config.config_ini_section) or {},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild tables that others reference; SQLite checks foreign keys
            # per statement unless told not to, and only outside a transaction can it be told.
            _driver_sql(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                context.run_migrations()
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows whose foreign keys point nowhere; rolled back")
        finally:
            if sqlite:
                _driver_sql(connection, "PRAGMA foreign_keys=ON")


def _driver_sql(connection, statement: str) -> None:  # type: ignore[no-untyped-def]
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


run_migrations()
