"""Catalog queries: papers, head types, models, published claims and published per-head data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from headdb.catalog.validate import NameIndex
from headdb.db.models import (
    HEAD_TYPE_KINDS,
    STAGES,
    Claim,
    Head,
    HeadType,
    Model,
    Paper,
    PaperHeadType,
    PublishedDataset,
    PublishedValue,
)
from headdb.errors import InvalidArgumentError
from headdb.queries import names
from headdb.results import ClaimInfo, HeadTypeInfo, ModelInfo, PaperInfo, PublishedInfo, ResultList, result_list
from headdb.text import CONTROL_CHARS, brief

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


def papers(
    session: Session,
    head_type: str | None = None,
    year: int | None = None,
    venue: str | None = None,
    text: str | None = None,
) -> ResultList[PaperInfo]:
    query: Select[tuple[Paper]] = select(Paper).options(
        selectinload(Paper.links),
        selectinload(Paper.head_type_links).selectinload(PaperHeadType.head_type),
        selectinload(Paper.claims),
    )
    if head_type is not None:
        ht = names.head_type(session, head_type)
        query = query.where(
            Paper.id.in_(select(PaperHeadType.paper_id).where(PaperHeadType.head_type_id == ht.id))
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
    return result_list(PaperInfo, [paper_info(p) for p in session.scalars(query)])


def paper(session: Session, name: str) -> PaperInfo:
    """One paper by slug, exact title or arXiv id (each a unique, indexed column)."""
    check_query_text(name, "paper")
    found = session.scalar(
        select(Paper)
        .where(or_(Paper.slug == name, Paper.title == name, Paper.arxiv_id == name))
        .options(selectinload(Paper.links), selectinload(Paper.head_type_links).selectinload(PaperHeadType.head_type),
                 selectinload(Paper.claims))
    )
    if found is None:
        index = NameIndex()
        for slug, title in session.execute(select(Paper.slug, Paper.title)):
            index.add(slug, slug)
            index.add(title, slug)
        raise names.UnknownNameError(index.unknown_message("paper", name))
    return paper_info(found)


def head_types(session: Session, stage: str | None = None, kind: str | None = None) -> ResultList[HeadTypeInfo]:
    query = select(HeadType).options(selectinload(HeadType.aliases))
    if stage is not None:
        query = query.where(HeadType.stage == names.stage(stage))
    if kind is not None:
        if kind not in HEAD_TYPE_KINDS:
            raise InvalidArgumentError(f"unknown kind {brief(kind)}; known: {', '.join(HEAD_TYPE_KINDS)}")
        query = query.where(HeadType.kind == kind)
    query = query.order_by(HeadType.stage, HeadType.group, HeadType.name)
    return result_list(HeadTypeInfo, [head_type_info(ht) for ht in session.scalars(query)])


def models(session: Session) -> ResultList[ModelInfo]:
    """Every stored model identity (name and revision), by name, then training step (the model as
    published first), then revision."""
    published_first = Model.step.is_not(None)  # NULL steps sort first on every backend
    rows = session.scalars(select(Model).order_by(Model.name, published_first, Model.step, Model.revision))
    return result_list(ModelInfo, [model_info(m) for m in rows])


def claims(
    session: Session,
    model: str | None = None,
    head_type: str | None = None,
    paper: str | None = None,
) -> ResultList[ClaimInfo]:
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
        query = query.where(Head.model_id == names.model(session, model).id)
    if head_type is not None:
        query = query.where(Claim.head_type_id == names.head_type(session, head_type).id)
    if paper is not None:
        check_query_text(paper, "paper")
        query = query.where(or_(Paper.slug == paper, Paper.title == paper))
    query = query.order_by(Model.name, Head.layer, Head.head, Paper.published_date)
    return result_list(ClaimInfo, [claim_info(c) for c in session.scalars(query)])


def published(
    session: Session, model: str | None = None, paper: str | None = None, head_type: str | None = None
) -> ResultList[PublishedInfo]:
    query = select(PublishedDataset).options(
        selectinload(PublishedDataset.paper), selectinload(PublishedDataset.model),
        selectinload(PublishedDataset.head_type),
    )
    if model is not None:
        query = query.where(PublishedDataset.model_id == names.model(session, model).id)
    if head_type is not None:
        query = query.where(PublishedDataset.head_type_id == names.head_type(session, head_type).id)
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


# -- one conversion per ORM class -------------------------------------------------------------


def paper_info(p: Paper) -> PaperInfo:
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


def head_type_info(ht: HeadType) -> HeadTypeInfo:
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


def model_info(m: Model) -> ModelInfo:
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
        step=m.step,
        source_kind=m.source_kind,
    )


def claim_info(c: Claim) -> ClaimInfo:
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
