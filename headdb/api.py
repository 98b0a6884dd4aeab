"""The Python query API: ``HeadDB`` answers questions about papers, head types, claims and labels.

    >>> from headdb import HeadDB
    >>> db = HeadDB()                       # $HEADDB_URL, else ./headdb.sqlite
    >>> db.papers(head_type="successor")    # typed records; .to_frame() for pandas
    >>> db.claims(model="gpt2", head_type="name mover")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from headdb.agreement import AgreementRow, agreement_rows, published_agreement_rows
from headdb.catalog.ingest import IngestReport, sync_catalog
from headdb.catalog.validate import DEFAULT_MODELS, DEFAULT_TAXONOMY, NameIndex, load_catalog
from headdb.db.engine import create_db_engine, resolve_url
from headdb.db.migrate import ensure_current, upgrade
from headdb.db.models import (
    HEAD_TYPE_KINDS,
    STAGES,
    Claim,
    DetectorRun,
    Head,
    HeadLabel,
    HeadScore,
    HeadType,
    Model,
    Paper,
    PaperHeadType,
    PublishedDataset,
    PublishedValue,
    model_name_key,
)
from headdb.errors import InvalidArgumentError, NotFoundError
from headdb.results import (
    ClaimInfo,
    HeadTypeInfo,
    LabelInfo,
    ModelInfo,
    PaperInfo,
    PublishedInfo,
    ResultList,
    RunInfo,
    result_list,
)
from headdb.text import CONTROL_CHARS, brief

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from headdb.circuits.query import CircuitInfo
    from headdb.validation.query import ValidationInfo


class UnknownNameError(NotFoundError):
    """A head type, stage, model or paper name that the database does not know."""


# Bounds on query arguments: papers are dated 2016 onwards; a search string longer than any
# title or venue column cannot match anything.
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_QUERY_TEXT = 500


def check_year(year: int) -> int:
    """``year`` if it is a plausible publication year, else ``InvalidArgumentError``."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidArgumentError(f"year {year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
    return year


def check_query_text(value: str, what: str = "search text") -> str:
    """``value`` if it is a usable search string: at most ``MAX_QUERY_TEXT`` characters and no
    control characters (PostgreSQL refuses NUL, and none belongs in a catalog string)."""
    if len(value) > MAX_QUERY_TEXT:
        raise InvalidArgumentError(f"{what} is too long: {len(value):,} characters, at most {MAX_QUERY_TEXT}")
    found = CONTROL_CHARS.search(value)
    if found:
        raise InvalidArgumentError(f"{what} holds the control character {brief(found.group())}")
    return value


class HeadDB:
    """A handle on one headdb database (any SQLAlchemy URL; SQLite file by default)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        self.engine = create_db_engine(self.url)

    def __repr__(self) -> str:
        return f"HeadDB({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- set-up -----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Create the schema or bring it to the newest migration."""
        upgrade(self.engine)

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

    def _session(self) -> Session:
        ensure_current(self.engine)
        return Session(self.engine)

    # -- name resolution --------------------------------------------------------------------

    def _head_type(self, session: Session, name: str) -> HeadType:
        head_types = list(session.scalars(select(HeadType).options(selectinload(HeadType.aliases))))
        index = NameIndex()
        for ht in head_types:
            for n in (ht.slug, ht.name, *(a.alias for a in ht.aliases)):
                index.add(n, ht.slug)
        # Also accept the bare form users type: "name mover" for "Name Mover Head".
        for ht in head_types:
            if ht.name.lower().endswith(" head"):
                index.add(ht.name[: -len(" head")], ht.slug)
        slug = index.get(name)
        if slug is None:
            raise UnknownNameError(index.unknown_message("head type", name))
        return next(ht for ht in head_types if ht.slug == slug)

    def _model(self, session: Session, name: str, revision: str = "") -> Model:
        """A model by name (case and separators do not count) or by the local directory it was
        loaded from, at ``revision`` ("" for the model as published)."""
        candidates = [name]
        if Path(name).expanduser().is_dir():
            from headdb.jobs.loading import local_model_name

            candidates.append(local_model_name(name))
        for candidate in candidates:
            found = session.scalar(
                select(Model).where(Model.name_key == model_name_key(candidate), Model.revision == revision)
            )
            if found is not None:
                return found
        index = NameIndex()
        for stored, rev in session.execute(select(Model.name, Model.revision)):
            index.add(stored if not rev else f"{stored}@{rev}", stored)
        message = index.unknown_message("model", name if not revision else f"{name}@{revision}")
        raise UnknownNameError(message)

    @staticmethod
    def _stage(name: str) -> str:
        index = NameIndex()
        for code, stage_name in STAGES.items():
            index.add(code, code)
            index.add(stage_name, code)
        code = index.get(name)
        if code is None:
            raise UnknownNameError(index.unknown_message("stage", name))
        return code

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
            query: Select[tuple[Paper]] = select(Paper).options(
                selectinload(Paper.links),
                selectinload(Paper.head_type_links).selectinload(PaperHeadType.head_type),
                selectinload(Paper.claims),
            )
            if head_type is not None:
                ht = self._head_type(session, head_type)
                query = query.where(
                    Paper.id.in_(
                        select(PaperHeadType.paper_id).where(PaperHeadType.head_type_id == ht.id)
                    )
                )
            if year is not None:
                check_year(year)
                query = query.where(
                    Paper.published_date >= dt.date(year, 1, 1),
                    Paper.published_date <= dt.date(year, 12, 31),
                )
            # autoescape: %, _ and the escape character match themselves, not "anything".
            # The venue filter matches the peer-reviewed venue or where the paper appeared ("arXiv").
            if venue is not None:
                check_query_text(venue, "venue")
                query = query.where(
                    or_(Paper.venue.icontains(venue, autoescape=True), Paper.published_in.icontains(venue, autoescape=True))
                )
            if text is not None:
                check_query_text(text)
                query = query.where(
                    or_(
                        *(
                            column.icontains(text, autoescape=True)
                            for column in (Paper.title, Paper.innovation, Paper.tasks, Paper.significant_result)
                        )
                    )
                )
            query = query.order_by(Paper.published_date.desc(), Paper.title)
            return result_list(PaperInfo, [_paper_info(p) for p in session.scalars(query)])

    def paper(self, name: str) -> PaperInfo:
        """One paper by slug, exact title or arXiv id."""
        check_query_text(name, "paper")
        with self._session() as session:
            found = session.scalar(
                select(Paper).where(
                    or_(Paper.slug == name, Paper.title == name, Paper.arxiv_id == name)
                )
            )
            if found is None:
                index = NameIndex()
                for slug, title in session.execute(select(Paper.slug, Paper.title)):
                    index.add(slug, slug)
                    index.add(title, slug)
                raise UnknownNameError(index.unknown_message("paper", name))
            return _paper_info(found)

    def head_types(self, stage: str | None = None, kind: str | None = None) -> ResultList[HeadTypeInfo]:
        """Head types of the taxonomy, optionally of one stage (code such as "LR" or its name)
        and of one kind (mechanistic, intervention-selected or score-selected)."""
        with self._session() as session:
            query = select(HeadType).options(selectinload(HeadType.aliases))
            if stage is not None:
                query = query.where(HeadType.stage == self._stage(stage))
            if kind is not None:
                if kind not in HEAD_TYPE_KINDS:
                    raise InvalidArgumentError(f"unknown kind {brief(kind)}; known: {', '.join(HEAD_TYPE_KINDS)}")
                query = query.where(HeadType.kind == kind)
            query = query.order_by(HeadType.stage, HeadType.group, HeadType.name)
            return result_list(HeadTypeInfo, [_head_type_info(ht) for ht in session.scalars(query)])

    def head_type(self, name: str) -> HeadTypeInfo:
        with self._session() as session:
            return _head_type_info(self._head_type(session, name))

    def models(self) -> ResultList[ModelInfo]:
        with self._session() as session:
            models = session.scalars(select(Model).order_by(Model.name))
            return result_list(ModelInfo, [_model_info(m) for m in models])

    def model(self, name: str) -> ModelInfo:
        with self._session() as session:
            return _model_info(self._model(session, name))

    # -- claims and labels ------------------------------------------------------------------

    def claims(
        self,
        model: str | None = None,
        head_type: str | None = None,
        paper: str | None = None,
    ) -> ResultList[ClaimInfo]:
        """Published claims "paper P reports head L.H of model M as type T", filtered."""
        with self._session() as session:
            query = (
                select(Claim)
                .join(Claim.head)
                .join(Head.model)
                .join(Claim.paper)
                .options(
                    selectinload(Claim.head).selectinload(Head.model),
                    selectinload(Claim.head_type),
                    selectinload(Claim.paper),
                )
            )
            if model is not None:
                query = query.where(Head.model_id == self._model(session, model).id)
            if head_type is not None:
                query = query.where(Claim.head_type_id == self._head_type(session, head_type).id)
            if paper is not None:
                check_query_text(paper, "paper")
                query = query.where(or_(Paper.slug == paper, Paper.title == paper))
            query = query.order_by(Model.name, Head.layer, Head.head, Paper.published_date)
            return result_list(ClaimInfo, [_claim_info(c) for c in session.scalars(query)])

    def published(
        self, model: str | None = None, paper: str | None = None, head_type: str | None = None
    ) -> ResultList[PublishedInfo]:
        """Per-head data papers published (scores for every head, or a circuit's heads), with
        source repository, path, commit and derivation; filtered by model, paper or head type."""
        with self._session() as session:
            query = select(PublishedDataset).options(
                selectinload(PublishedDataset.paper), selectinload(PublishedDataset.model),
                selectinload(PublishedDataset.head_type),
            )
            if model is not None:
                query = query.where(PublishedDataset.model_id == self._model(session, model).id)
            if head_type is not None:
                query = query.where(PublishedDataset.head_type_id == self._head_type(session, head_type).id)
            if paper is not None:
                check_query_text(paper, "paper")
                query = query.join(PublishedDataset.paper).where(or_(Paper.slug == paper, Paper.title == paper))
            datasets = list(session.scalars(query.order_by(PublishedDataset.slug)))
            # The values as plain rows: thousands per dataset, so no ORM objects for them.
            values: dict[int, list[tuple[int, int, float, str | None]]] = {d.id: [] for d in datasets}
            if datasets:
                for dataset_id, layer, head, value, role in session.execute(
                    select(PublishedValue.dataset_id, Head.layer, Head.head, PublishedValue.value, PublishedValue.role)
                    .join(Head, PublishedValue.head_id == Head.id)
                    .where(PublishedValue.dataset_id.in_(values))
                    .order_by(PublishedValue.dataset_id, Head.layer, Head.head)
                ):
                    values[dataset_id].append((layer, head, value, role))
            return result_list(PublishedInfo, [published_info(d, values[d.id]) for d in datasets])

    def _latest_runs(self, model: Model) -> Select[tuple[int]]:
        """The newest succeeded run of each detector on ``model``."""
        return (
            select(func.max(DetectorRun.id))
            .where(DetectorRun.model_id == model.id, DetectorRun.status == "succeeded")
            .group_by(DetectorRun.detector)
        )

    def labels(self, model: str, head_type: str | None = None) -> ResultList[LabelInfo]:
        """Heads of ``model`` that detectors labelled (newest run per detector), best first."""
        with self._session() as session:
            m = self._model(session, model)
            query = (
                select(HeadLabel, HeadScore, DetectorRun, Model.n_layers * Model.n_heads)
                .join(DetectorRun, HeadLabel.run_id == DetectorRun.id)
                .join(Model, DetectorRun.model_id == Model.id)
                .join(
                    HeadScore,
                    and_(
                        HeadScore.run_id == HeadLabel.run_id,
                        HeadScore.head_id == HeadLabel.head_id,
                        HeadScore.head_type_id == HeadLabel.head_type_id,
                    ),
                )
                .where(HeadLabel.run_id.in_(self._latest_runs(m)))
                .options(selectinload(HeadLabel.head), selectinload(HeadLabel.head_type))
            )
            if head_type is not None:
                query = query.where(HeadLabel.head_type_id == self._head_type(session, head_type).id)
            rows = [
                LabelInfo(
                    model=m.name,
                    layer=label.head.layer,
                    head=label.head.head,
                    head_type=label.head_type.slug,
                    score=label.score,
                    rank=scored.rank,
                    detector=run.detector,
                    detector_version=run.detector_version,
                    run_id=run.id,
                    n_heads_scored=n_heads or 0,
                    ci_low=scored.ci_low,
                    ci_high=scored.ci_high,
                    q_value=scored.q_value,
                    evidence=tuple(label.evidence or ()),
                    circuit_id=label.circuit_id,
                )
                for label, scored, run, n_heads in session.execute(query)
            ]
            rows.sort(key=lambda r: (r.head_type, r.rank))
            return result_list(LabelInfo, rows)

    def scores(self, model: str, head_type: str, as_frame: bool = False) -> torch.Tensor | pd.DataFrame:
        """Newest scores of every head of ``model`` for ``head_type``: a layer x head tensor
        (NaN where a head has no score), or a DataFrame with layers as rows if ``as_frame``."""
        import torch

        with self._session() as session:
            m = self._model(session, model)
            ht = self._head_type(session, head_type)
            run_id = session.scalar(
                select(func.max(HeadScore.run_id))
                .join(DetectorRun, HeadScore.run_id == DetectorRun.id)
                .where(
                    DetectorRun.model_id == m.id,
                    DetectorRun.status == "succeeded",
                    HeadScore.head_type_id == ht.id,
                )
            )
            if run_id is None:
                raise NotFoundError(f"no detector scores for {ht.slug!r} on model {m.name!r} yet")
            rows = session.execute(
                select(Head.layer, Head.head, HeadScore.score)
                .join(HeadScore, HeadScore.head_id == Head.id)
                .where(HeadScore.run_id == run_id, HeadScore.head_type_id == ht.id)
            ).all()
            n_layers = m.n_layers or 1 + max(r.layer for r in rows)
            n_heads = m.n_heads or 1 + max(r.head for r in rows)
            grid = torch.full((n_layers, n_heads), float("nan"))
            for layer, head, score in rows:
                grid[layer, head] = score
        if as_frame:
            import pandas as pd

            return pd.DataFrame(
                grid.numpy(),
                index=pd.Index(range(n_layers), name="layer"),
                columns=pd.Index(range(n_heads), name="head"),
            )
        return grid

    def agreement(
        self, model: str, head_type: str | None = None, basis: str | None = None
    ) -> ResultList[AgreementRow]:
        """Claims against labels for ``model``: per head type, which claimed heads were detected
        (agree), missed, or detected but never claimed, with scores and ranks. Rows with
        ``basis`` "detector" compare with headdb's detector labels; rows with basis "published"
        compare with the labels a paper's own published data implies under its stated threshold
        (``dataset`` names it). ``basis`` picks one kind; the default returns both."""
        if basis not in (None, "detector", "published"):
            raise InvalidArgumentError(f"basis must be 'detector' or 'published', got {brief(basis)}")
        with self._session() as session:
            m = self._model(session, model)
            ht = self._head_type(session, head_type) if head_type is not None else None
            rows = agreement_rows(session, m, ht) if basis != "published" else []
            if basis != "detector":
                rows += published_agreement_rows(session, m, ht)
            return result_list(AgreementRow, rows)

    def circuits(self, model: str | None = None, task: str | None = None, revision: str = "",
                 with_edges: bool = True) -> ResultList[CircuitInfo]:
        """Stored circuits, newest first (of one model and/or task); each record's ``graph()``
        gives the circuit as plain data or, with ``as_networkx=True``, a networkx DiGraph."""
        from headdb.circuits.query import CircuitInfo, circuits

        with self._session() as session:
            m = self._model(session, model, revision) if model is not None else None
            return result_list(CircuitInfo, circuits(session, m, task, with_edges))

    def validation(self, subset: str | None = None) -> ValidationInfo | None:
        """The newest detector validation report (of ``subset``: fast, full or custom), or None."""
        from headdb.validation.query import latest_validation

        with self._session() as session:
            return latest_validation(session, subset)

    def runs(self, model: str | None = None) -> ResultList[RunInfo]:
        """Detector runs, newest first, optionally of one model."""
        with self._session() as session:
            query = select(DetectorRun).options(selectinload(DetectorRun.model))
            if model is not None:
                query = query.where(DetectorRun.model_id == self._model(session, model).id)
            runs = list(session.scalars(query.order_by(DetectorRun.id.desc())))
            counts = _label_counts(session, (r.id for r in runs))
            return result_list(
                RunInfo,
                [
                    RunInfo(
                        id=r.id,
                        model=r.model.name,
                        detector=r.detector,
                        detector_version=r.detector_version,
                        status=r.status,
                        started_at=r.started_at,
                        duration_s=r.duration_s,
                        device=r.device,
                        dtype=r.dtype,
                        config_fingerprint=r.config_fingerprint,
                        data_fingerprint=r.data_fingerprint,
                        n_labels=counts.get(r.id, 0),
                        error=r.error,
                    )
                    for r in runs
                ],
            )


def published_info(d: PublishedDataset, rows: list[tuple[int, int, float, str | None]]) -> PublishedInfo:
    """``d`` with its values, ``rows`` of (layer, head, value, role) in layer, head order."""
    return PublishedInfo(
        slug=d.slug, paper=d.paper.slug, paper_title=d.paper.title, model=d.model.name,
        head_type=d.head_type.slug if d.head_type else None, kind=d.kind, title=d.title, quantity=d.quantity,
        repository=d.repository, path=d.path, commit=d.commit, derivation=d.derivation, derived_by=d.derived_by,
        n_samples=d.n_samples, threshold=d.threshold, threshold_op=d.threshold_op,
        threshold_source=d.threshold_source, note=d.note,
        n_layers=d.model.n_layers or 1 + max(layer for layer, _, _, _ in rows),
        n_heads=d.model.n_heads or 1 + max(head for _, head, _, _ in rows),
        values={f"{layer}.{head}": value for layer, head, value, _ in rows},
        roles={f"{layer}.{head}": role for layer, head, _, role in rows if role},
    )


def _label_counts(session: Session, run_ids: Iterable[int]) -> dict[int, int]:
    ids = list(run_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(HeadLabel.run_id, func.count()).where(HeadLabel.run_id.in_(ids)).group_by(HeadLabel.run_id)
    )
    return {run_id: n for run_id, n in rows}


def _paper_info(p: Paper) -> PaperInfo:
    return PaperInfo(
        slug=p.slug,
        title=p.title,
        date=p.published_date,
        date_precision=p.date_precision,
        venue=p.venue,
        venue_year=p.venue_year,
        published_in=p.published_in,
        missing=dict(p.missing or {}),
        sources=dict(p.sources or {}),
        arxiv_id=p.arxiv_id,
        authors=tuple(p.authors),
        head_types=tuple(ht.slug for ht in p.head_types),
        links=tuple(link.url for link in p.links),
        innovation=p.innovation,
        tasks=p.tasks,
        significant_result=p.significant_result,
        n_claims=len(p.claims),
    )


def _head_type_info(ht: HeadType) -> HeadTypeInfo:
    return HeadTypeInfo(
        slug=ht.slug,
        name=ht.name,
        stage=ht.stage,
        stage_name=STAGES.get(ht.stage) if ht.stage else None,
        group=ht.group,
        aliases=tuple(a.alias for a in ht.aliases),
        model_families=tuple(ht.model_families),
        description=ht.description,
        kind=ht.kind,
        kind_note=ht.kind_note,
        placement=dict(ht.placement or {}),
        merged=tuple(ht.merged or ()),
        distinct_from=tuple(ht.distinct_from or ()),
    )


def _model_info(m: Model) -> ModelInfo:
    return ModelInfo(
        name=m.name,
        family=m.family,
        source=m.source,
        architecture=m.architecture,
        n_layers=m.n_layers,
        n_heads=m.n_heads,
        n_kv_heads=m.n_kv_heads,
        d_model=m.d_model,
        d_head=m.d_head,
        d_vocab=m.d_vocab,
        weights_fingerprint=m.weights_fingerprint,
        revision=m.revision,
    )


def _claim_info(c: Claim) -> ClaimInfo:
    return ClaimInfo(
        model=c.head.model.name,
        layer=c.head.layer,
        head=c.head.head,
        head_type=c.head_type.slug if c.head_type else None,
        head_type_name=c.head_type.name if c.head_type else None,
        role=c.role,
        note=c.note,
        paper=c.paper.slug,
        paper_title=c.paper.title,
        source=c.source,
        confidence=c.confidence,
        conflict=c.conflict,
    )
