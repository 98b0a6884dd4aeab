"""Alembic migrations produce exactly the ORM schema and keep data across downgrade/upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from headdb import HeadDB
from headdb.db.migrate import current_revision, downgrade, head_revision, upgrade
from headdb.db.models import Base, Claim, Paper

from conftest import PAPERS


def test_migrations_match_orm_schema(empty_db: HeadDB) -> None:
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(empty_db.engine) == head_revision()


def test_every_table_exists_after_upgrade(empty_db: HeadDB) -> None:
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def _snapshot(db: HeadDB) -> dict[str, object]:
    with Session(db.engine) as s:
        papers = s.execute(select(Paper.slug, Paper.title, Paper.published_date, Paper.innovation).order_by(Paper.slug)).all()
        claims = s.execute(select(Claim.paper_id, Claim.head_id, Claim.head_type_id, Claim.source).order_by(Claim.id)).all()
        aliases = s.execute(text("SELECT alias, head_type_id FROM head_type_aliases ORDER BY alias")).all()
    return {"papers": papers, "claims": claims, "aliases": aliases}


def test_downgrade_then_upgrade_keeps_catalog_data(empty_db: HeadDB) -> None:
    empty_db.ingest(PAPERS)
    before = _snapshot(empty_db)
    assert len(before["papers"]) >= 68 and before["claims"]

    downgrade(empty_db.engine, "0001")
    assert current_revision(empty_db.engine) == "0001"
    assert "detector_runs" not in inspect(empty_db.engine).get_table_names()
    upgrade(empty_db.engine)
    assert current_revision(empty_db.engine) == head_revision()
    assert _snapshot(empty_db) == before
    # and the database still works as a whole
    assert empty_db.papers(head_type="successor")


def test_downgrade_to_base_removes_every_table(empty_db: HeadDB) -> None:
    downgrade(empty_db.engine, "base")
    remaining = set(inspect(empty_db.engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()
