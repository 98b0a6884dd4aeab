"""Papers' claims against detector labels, and against published labels, per model and head type.

For every head type that both has a claim about the model and was scored on it: claimed and
detected heads agree; claimed but not labelled are missed; labelled but never claimed are new.
Head types with claims but no detector run are reported as not scored, never as misses.

Published per-head data takes part the same way, marked ``basis="published"`` with its dataset:
where a paper published a value for every head and states a threshold for its head type, the
heads past it are that paper's own labels (computed by its authors, not by headdb), compared
with every catalogued claim of that type about the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from headdb.db.models import Claim, Head, HeadLabel, HeadScore, HeadType, Model, Paper
from headdb.queries.latest import latest_runs

AGREE, MISSED, UNCLAIMED, NOT_SCORED = "agree", "claimed-not-detected", "detected-not-claimed", "not-scored"


@dataclass(frozen=True)
class AgreementRow:
    model: str
    head_type: str
    layer: int
    head: int
    status: str  # agree | claimed-not-detected | detected-not-claimed | not-scored
    score: float | None
    rank: int | None
    papers: tuple[str, ...]  # slugs of the papers claiming it
    basis: str = "detector"  # detector: headdb's labels; published: labels from a paper's own data
    dataset: str | None = None  # the published dataset, where basis is "published"

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


def agreement_rows(session: Session, model: Model, head_type: HeadType | None = None) -> list[AgreementRow]:
    latest = latest_runs(model.id)
    # Newest scores per head type (a head type is scored by one detector).
    scored = session.execute(
        select(HeadScore.head_type_id, Head.layer, Head.head, HeadScore.score, HeadScore.rank, HeadScore.run_id)
        .join(Head, HeadScore.head_id == Head.id)
        .where(HeadScore.run_id.in_(latest))
    ).all()
    newest_run: dict[int, int] = {}
    for row in scored:
        newest_run[row.head_type_id] = max(newest_run.get(row.head_type_id, 0), row.run_id)
    scores = {
        (r.head_type_id, r.layer, r.head): (r.score, r.rank) for r in scored if r.run_id == newest_run[r.head_type_id]
    }
    labels = {
        (ht, layer, head)
        for ht, layer, head in session.execute(
            select(HeadLabel.head_type_id, Head.layer, Head.head)
            .join(Head, HeadLabel.head_id == Head.id)
            .where(HeadLabel.run_id.in_(list(newest_run.values()) or [-1]))
        )
    }
    claims: dict[tuple[int, int, int], set[str]] = {}
    for ht, layer, head, paper in session.execute(
        select(Claim.head_type_id, Head.layer, Head.head, Paper.slug)
        .join(Head, Claim.head_id == Head.id)
        .join(Paper, Claim.paper_id == Paper.id)
        .where(and_(Head.model_id == model.id, Claim.head_type_id.is_not(None)))
    ):
        claims.setdefault((ht, layer, head), set()).add(paper)

    slugs = {ht.id: ht.slug for ht in session.scalars(select(HeadType))}
    rows = []
    for key in sorted(set(claims) | labels):
        ht, layer, head = key
        if head_type is not None and ht != head_type.id:
            continue
        if ht not in newest_run:
            status = NOT_SCORED
        elif key in claims and key in labels:
            status = AGREE
        elif key in claims:
            status = MISSED
        else:
            status = UNCLAIMED
        score, rank = scores.get(key, (None, None))
        rows.append(
            AgreementRow(model.name, slugs[ht], layer, head, status, score, rank, tuple(sorted(claims.get(key, ()))))
        )
    order = {AGREE: 0, MISSED: 1, UNCLAIMED: 2, NOT_SCORED: 3}
    rows.sort(key=lambda r: (r.head_type, order[r.status], r.rank or 10**9, r.layer, r.head))
    return rows


def published_agreement_rows(session: Session, model: Model, head_type: HeadType | None = None) -> list[AgreementRow]:
    """Claims against the labels published data implies: for each dataset of ``model`` with a
    head type and a stated threshold, heads past it agree with claims of that type or are
    published-not-claimed; claimed heads below it are claimed-not-published (``MISSED``)."""
    from headdb.db.models import PublishedDataset, PublishedValue

    query = select(PublishedDataset).where(
        PublishedDataset.model_id == model.id,
        PublishedDataset.head_type_id.is_not(None),
        PublishedDataset.threshold.is_not(None),
    )
    if head_type is not None:
        query = query.where(PublishedDataset.head_type_id == head_type.id)
    rows: list[AgreementRow] = []
    for dataset in session.scalars(query.order_by(PublishedDataset.slug)):
        values = session.execute(
            select(Head.layer, Head.head, PublishedValue.value)
            .join(Head, PublishedValue.head_id == Head.id)
            .where(PublishedValue.dataset_id == dataset.id)
        ).all()
        ranked = sorted(values, key=lambda r: (-r.value, r.layer, r.head))
        rank = {(r.layer, r.head): i + 1 for i, r in enumerate(ranked)}
        value = {(r.layer, r.head): r.value for r in values}
        labelled = {key for key, v in value.items() if dataset.labels(v)}
        claims: dict[tuple[int, int], set[str]] = {}
        for layer, head, paper in session.execute(
            select(Head.layer, Head.head, Paper.slug)
            .select_from(Claim)
            .join(Head, Claim.head_id == Head.id)
            .join(Paper, Claim.paper_id == Paper.id)
            .where(Head.model_id == model.id, Claim.head_type_id == dataset.head_type_id)
        ):
            claims.setdefault((layer, head), set()).add(paper)
        for key in sorted(set(claims) | labelled):
            status = AGREE if key in claims and key in labelled else (MISSED if key in claims else UNCLAIMED)
            rows.append(AgreementRow(
                model.name, dataset.head_type.slug, key[0], key[1], status, value.get(key), rank.get(key),
                tuple(sorted(claims.get(key, ()))), basis="published", dataset=dataset.slug,
            ))
    order = {AGREE: 0, MISSED: 1, UNCLAIMED: 2}
    rows.sort(key=lambda r: (r.dataset or "", order[r.status], r.rank or 10**9, r.layer, r.head))
    return rows
