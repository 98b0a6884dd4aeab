"""The Python query API: ``HeadDB`` answers questions about papers, head types, claims and labels.

    >>> from headdb import HeadDB
    >>> db = HeadDB()                       # $HEADDB_URL, else ./headdb.sqlite
    >>> db.papers(head_type="successor")    # typed records; .to_frame() for pandas
    >>> db.claims(model="gpt2", head_type="name mover")

``HeadDB`` holds the engine and checks the schema version once (on its first query, or marks it
current after ``upgrade()``); the queries themselves live in ``headdb.queries``, one module per
area, and resolve names by indexed lookups.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from headdb.agreement import AgreementRow
from headdb.catalog.ingest import IngestReport, sync_catalog
from headdb.catalog.validate import DEFAULT_MODELS, DEFAULT_TAXONOMY, load_catalog
from headdb.db.engine import create_db_engine, resolve_url
from headdb.db.migrate import ensure_current, upgrade
from headdb.queries import catalog, detections, names, training
from headdb.queries.catalog import MAX_QUERY_TEXT, MAX_YEAR, MIN_YEAR, check_query_text, check_year
from headdb.errors import InvalidArgumentError
from headdb.queries.names import UnknownNameError
from headdb.text import brief
from headdb.results import (
    ClaimInfo,
    HeadTypeInfo,
    LabelInfo,
    ModelInfo,
    PaperInfo,
    PublishedInfo,
    ResultList,
    RunInfo,
    Training,
    result_list,
)

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from headdb.circuits.query import CircuitInfo
    from headdb.validation.query import ValidationInfo

__all__ = [
    "MAX_QUERY_TEXT",
    "MAX_YEAR",
    "MIN_YEAR",
    "HeadDB",
    "UnknownNameError",
    "check_query_text",
    "check_year",
]


class HeadDB:
    """A handle on one headdb database (any SQLAlchemy URL; SQLite file by default).

    Methods that take a ``model`` accept a name (case and separators do not count), a local
    model directory, or ``NAME@REVISION``; ``revision=`` selects a revision explicitly ("" is the
    model as published, the default)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        self.engine = create_db_engine(self.url)
        self._schema_current = False

    def __repr__(self) -> str:
        return f"HeadDB({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- set-up -----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Create the schema or bring it to the newest migration."""
        upgrade(self.engine)
        self._schema_current = True

    def ingest(
        self,
        papers_dir: str | Path = "papers",
        taxonomy: str | Path = DEFAULT_TAXONOMY,
        models: str | Path = DEFAULT_MODELS,
        published: str | Path | bool | None = True,
    ) -> IngestReport:
        """Validate the catalog, then synchronise the database with it in one transaction.
        ``published``: the published per-head data directory; True (the default) means
        ``published/`` beside ``papers_dir`` where it exists, None or False none."""
        return sync_catalog(self.engine, load_catalog(papers_dir, taxonomy, models, published))

    def check_schema(self) -> None:
        """Raise ``SchemaNotReadyError`` unless the schema is at the newest migration. Checked
        once per handle: after the first success (or ``upgrade()``) it costs nothing."""
        if not self._schema_current:
            ensure_current(self.engine)
            self._schema_current = True

    def _session(self) -> Session:
        self.check_schema()
        return Session(self.engine)

    # -- papers and taxonomy ----------------------------------------------------------------

    def papers(
        self,
        head_type: str | None = None,
        year: int | None = None,
        venue: str | None = None,
        text: str | None = None,
    ) -> ResultList[PaperInfo]:
        """Papers, newest first by their first public version, filtered by a head type they name,
        year (of the first public version), venue (or where they appeared) and/or text."""
        with self._session() as session:
            return catalog.papers(session, head_type, year, venue, text)

    def paper(self, name: str) -> PaperInfo:
        """One paper by slug, exact title or arXiv id."""
        with self._session() as session:
            return catalog.paper(session, name)

    def head_types(self, stage: str | None = None, kind: str | None = None) -> ResultList[HeadTypeInfo]:
        """Head types of the taxonomy, optionally of one stage (code such as "LR" or its name)
        and of one kind (mechanistic, intervention-selected or score-selected)."""
        with self._session() as session:
            return catalog.head_types(session, stage, kind)

    def head_type(self, name: str) -> HeadTypeInfo:
        """One head type by slug, name, alias or name without 'Head' (case and separators do not count)."""
        with self._session() as session:
            return catalog.head_type_info(names.head_type(session, name))

    def models(self) -> ResultList[ModelInfo]:
        """Every stored model identity: one record per (name, revision)."""
        with self._session() as session:
            return catalog.models(session)

    def model(self, name: str, revision: str | None = None) -> ModelInfo:
        with self._session() as session:
            return catalog.model_info(names.model(session, name, revision))

    def revisions(self, name: str) -> list[str]:
        """The stored revisions of model ``name`` ("" is the model as published), by training step."""
        with self._session() as session:
            return names.list_revisions(session, name)

    # -- claims and labels ------------------------------------------------------------------

    def claims(
        self,
        model: str | None = None,
        head_type: str | None = None,
        paper: str | None = None,
    ) -> ResultList[ClaimInfo]:
        """Published claims "paper P reports head L.H of model M as type T", filtered."""
        with self._session() as session:
            return catalog.claims(session, model, head_type, paper)

    def published(
        self, model: str | None = None, paper: str | None = None, head_type: str | None = None
    ) -> ResultList[PublishedInfo]:
        """Per-head data papers published (scores for every head, or a circuit's heads), with
        source repository, path, commit and derivation; filtered by model, paper or head type."""
        with self._session() as session:
            return catalog.published(session, model, paper, head_type)

    def labels(self, model: str, head_type: str | None = None, revision: str | None = None) -> ResultList[LabelInfo]:
        """Heads of ``model`` that detectors labelled (newest run per detector), by head type, best first."""
        with self._session() as session:
            return detections.labels(session, model, head_type, revision)

    def scores(
        self, model: str, head_type: str, as_frame: bool = False, revision: str | None = None
    ) -> torch.Tensor | pd.DataFrame:
        """Newest scores of every head of ``model`` for ``head_type``: a layer x head tensor
        (NaN where a head has no score), or a DataFrame with layers as rows if ``as_frame``."""
        with self._session() as session:
            grid = detections.scores(session, model, head_type, revision)
        if as_frame:
            import pandas as pd

            n_layers, n_heads = grid.shape
            return pd.DataFrame(
                grid.numpy(),
                index=pd.Index(range(n_layers), name="layer"),
                columns=pd.Index(range(n_heads), name="head"),
            )
        return grid

    def agreement(
        self, model: str, head_type: str | None = None, revision: str | None = None, basis: str | None = None
    ) -> ResultList[AgreementRow]:
        """Claims against labels for ``model``: per head type, which claimed heads were detected
        (agree), missed, or detected but never claimed, with scores and ranks. Rows with
        ``basis`` "detector" compare with headdb's detector labels; rows with basis "published"
        compare with the labels a paper's own published data implies under its stated threshold
        (``dataset`` names it). ``basis`` picks one kind; the default returns both."""
        if basis not in (None, "detector", "published"):
            raise InvalidArgumentError(f"basis must be 'detector' or 'published', got {brief(basis)}")
        with self._session() as session:
            return detections.agreement(session, model, head_type, revision, basis)

    def circuits(self, model: str | None = None, task: str | None = None, revision: str | None = None,
                 with_edges: bool = True) -> ResultList[CircuitInfo]:
        """Stored circuits, newest first (of one model and/or task); each record's ``graph()``
        gives the circuit as plain data or, with ``as_networkx=True``, a networkx DiGraph."""
        from headdb.circuits.query import CircuitInfo, circuits

        with self._session() as session:
            m = names.model(session, model, revision) if model is not None else None
            return result_list(CircuitInfo, circuits(session, m, task, with_edges))

    def validation(self, subset: str | None = None) -> ValidationInfo | None:
        """The newest detector validation report (of ``subset``: fast, full or custom), or None."""
        from headdb.validation.query import latest_validation

        with self._session() as session:
            return latest_validation(session, subset)

    def runs(self, model: str | None = None, revision: str | None = None) -> ResultList[RunInfo]:
        """Detector runs, newest first, optionally of one model (at one revision)."""
        with self._session() as session:
            return detections.runs(session, model, revision)

    def training(self, model: str, head_type: str | None = None) -> Training:
        """Every head's score and label for each head type (or one) at each stored training step
        of ``model`` (its revisions that name a step), and per head and type the step at which
        the label first holds and the step from which it holds to the end (see ``FirstLabel``).
        ``.to_frame()`` gives one row per (head type, layer, head, step)."""
        with self._session() as session:
            return training.training(session, model, head_type)
