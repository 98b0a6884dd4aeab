"""Shared fixtures. Database tests run on SQLite and, where HEADDB_TEST_POSTGRES_URL names a
server (CI starts one), on PostgreSQL as well."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from headdb import HeadDB

REPO = Path(__file__).resolve().parents[1]
PAPERS = REPO / "papers"
SHARED = REPO.parent / "shared"
POSTGRES_ENV = "HEADDB_TEST_POSTGRES_URL"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (CI sets it; see .ci/run)")
    _reset_postgres(url)
    yield url
    _reset_postgres(url)


@pytest.fixture
def empty_db(db_url: str) -> Iterator[HeadDB]:
    db = HeadDB(db_url)
    db.upgrade()
    yield db
    db.engine.dispose()


@pytest.fixture
def catalog_db(empty_db: HeadDB) -> HeadDB:
    """A database holding the repository's whole catalog."""
    empty_db.ingest(PAPERS)
    return empty_db


@pytest.fixture
def papers_copy(tmp_path: Path) -> Path:
    """A scratch copy of papers/ that a test may edit."""
    target = tmp_path / "papers"
    shutil.copytree(PAPERS, target)
    return target


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (reference data beside the checkout; CI has it)")
    return path


# -- models ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The planted ground-truth model and its random control, built once per test session."""
    from headdb.zoo.planted import build_planted_model, build_random_model

    root = tmp_path_factory.mktemp("models")
    build_planted_model(root / "headdb-planted")
    return {"planted": root / "headdb-planted", "random": build_random_model(root / "headdb-random-control")}


@pytest.fixture(scope="session")
def contexts(test_models: dict[str, Path]):  # type: ignore[no-untyped-def]
    """Booted TransformerBridge contexts of the test models (and stories260K when present)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformer_lens.model_bridge import TransformerBridge

    from headdb.detectors import ModelContext

    cache: dict[str, object] = {}

    def get(name: str) -> ModelContext:
        if name not in cache:
            path = shared_path("models", "stories260K") if name == "stories260K" else test_models[name]
            cache[name] = ModelContext(TransformerBridge.boot_transformers(str(path), device="cpu"))
        return cache[name]  # type: ignore[return-value]

    return get
