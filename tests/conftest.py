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
def zoo_dir():  # type: ignore[no-untyped-def]
    """The directory of a built zoo model (built on first use into the zoo cache, which is keyed
    by content hash, so repeated test sessions and the main job share it)."""
    from headdb.zoo import ZOO, build

    def get(name: str) -> Path:
        return build(ZOO[name])

    return get


@pytest.fixture(scope="session")
def test_models(zoo_dir) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """The planted model and the random control of its shape (from the zoo)."""
    return {"planted": zoo_dir("zoo-planted"), "random": zoo_dir("zoo-control-planted")}


@pytest.fixture(scope="session")
def contexts(zoo_dir):  # type: ignore[no-untyped-def]
    """Booted TransformerBridge contexts of zoo models and of stories260K (when present), with
    each model's probes, cached for the session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformer_lens.model_bridge import TransformerBridge

    from headdb.detectors import ModelContext
    from headdb.detectors.datasets.probes import for_model

    cache: dict[str, object] = {}

    def get(name: str) -> ModelContext:
        if name not in cache:
            path = shared_path("models", "stories260K") if name == "stories260K" else zoo_dir(name)
            cache[name] = ModelContext(TransformerBridge.boot_transformers(str(path), device="cpu"), probes=for_model(path))
        return cache[name]  # type: ignore[return-value]

    return get


# -- the main job ------------------------------------------------------------------------------


class MainJobRun:
    """One run of the README's main job on the zoo's fast subset: its database, output and site."""

    def __init__(self, url: str, output: str, site: Path) -> None:
        self.url, self.output, self.site = url, output, site


@pytest.fixture(scope="session")
def main_job_run(tmp_path_factory: pytest.TempPathFactory) -> MainJobRun:
    """`headdb main --fast` once per session (validation, bundled circuits, stories260K, site);
    the main-job, validation and circuit-site tests read what it stored."""
    import contextlib
    import io

    from headdb.cli import main

    root = tmp_path_factory.mktemp("main-job")
    url = f"sqlite:///{root / 'main.sqlite'}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--url", url, "main", str(PAPERS), "--fast", "--site-dir", str(root / "site")])
    assert code == 0, out.getvalue()[-3000:]
    return MainJobRun(url, out.getvalue(), root / "site")
