"""Detector results: labels, scores, runs and the claims-vs-labels agreement of one model.

Every read goes through the newest-run definition of ``headdb.queries.latest`` and selects plain
columns (no ORM objects per row), joined along primary keys and indexes only: the label query of
one model and head type touches the model's few runs and then exactly its label rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from headdb.agreement import AgreementRow, agreement_rows, published_agreement_rows
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model, lookup_key, model_name_key
from headdb.errors import NotFoundError
from headdb.queries import names
from headdb.queries.latest import latest_runs, latest_runs_of
from headdb.results import LabelInfo, ResultList, RunInfo, result_list

if TYPE_CHECKING:
    import torch


@functools.cache
def _labels_statement(by_head_type: bool) -> Select[Any]:
    """The label query of one model and (optionally) one head type, as one statement with bound
    parameters (built once, so PostgreSQL can prepare it): the model's newest runs, then exactly
    their label rows, each joined to its score's rank and its head along primary keys.

    Parameters: ``model_id``, or (``name_key``, ``revision``) resolved inside the statement when
    ``model_id`` is NULL; ``type_key``, the head type's lookup key (``by_head_type`` only)."""
    model_id = func.coalesce(
        bindparam("model_id", type_=Integer),
        select(Model.id).where(Model.name_key == bindparam("name_key"), Model.revision == bindparam("revision"))
        .scalar_subquery(),
    )
    runs = latest_runs_of(model_id).subquery("latest")
    query = (
        select(Head.layer, Head.head, HeadType.slug, HeadLabel.score, HeadScore.rank,
               DetectorRun.detector, DetectorRun.detector_version, DetectorRun.id, Model.name, Model.revision,
               Model.n_layers * Model.n_heads, HeadScore.ci_low, HeadScore.ci_high, HeadScore.q_value,
               HeadLabel.evidence, HeadLabel.circuit_id)
        .select_from(runs)
        .join(DetectorRun, DetectorRun.id == runs.c.id)
        .join(Model, Model.id == DetectorRun.model_id)
        .join(HeadLabel, HeadLabel.run_id == runs.c.id)
        .join(HeadScore, and_(HeadScore.run_id == HeadLabel.run_id, HeadScore.head_type_id == HeadLabel.head_type_id,
                              HeadScore.head_id == HeadLabel.head_id))
        .join(Head, Head.id == HeadLabel.head_id)
        .join(HeadType, HeadType.id == HeadLabel.head_type_id)
        .order_by(HeadType.slug, HeadScore.rank, Head.layer, Head.head)
    )
    if by_head_type:
        query = query.where(HeadLabel.head_type_id == names.head_type_id_query(bindparam("type_key")).scalar_subquery())
    return query


def labels(session: Session, model: str, head_type: str | None = None, revision: str | None = None) -> ResultList[LabelInfo]:
    """Heads of ``model`` that the newest run of each detector labelled, by head type, then rank.

    One statement resolves both names and reads the labels; only when it finds nothing are the
    names resolved one by one (to raise ``UnknownNameError`` for an unknown one, or to follow a
    ``NAME@REV`` or directory name) and the labels read by model id."""
    statement = _labels_statement(head_type is not None)
    params: dict[str, Any] = {"model_id": None, "name_key": model_name_key(model), "revision": revision or ""}
    if head_type is not None:
        params["type_key"] = lookup_key(head_type)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # The joins are written in the order the indexes serve best; planning all 7! orders took
        # PostgreSQL several times longer than running the query.
        connection.exec_driver_sql("SET LOCAL join_collapse_limit = 1")
    rows = connection.execute(statement, params).all()
    if not rows:
        params["model_id"] = names.model(session, model, revision).id
        if head_type is not None:
            names.head_type(session, head_type)  # unknown: UnknownNameError
        rows = connection.execute(statement, params).all()
    return result_list(LabelInfo, [
        LabelInfo(model=name, layer=layer, head=head, head_type=slug, score=score, rank=rank, detector=detector,
                  detector_version=version, run_id=run_id, revision=rev, n_heads_scored=n_heads or 0,
                  ci_low=ci_low, ci_high=ci_high, q_value=q_value, evidence=tuple(evidence or ()),
                  circuit_id=circuit_id)
        for (layer, head, slug, score, rank, detector, version, run_id, name, rev, n_heads, ci_low, ci_high,
             q_value, evidence, circuit_id) in rows
    ])


def scores(session: Session, model: str, head_type: str, revision: str | None = None) -> torch.Tensor:
    """The newest scores of every head of ``model`` for ``head_type``: a layer x head tensor, NaN
    where a head has no score."""
    import torch

    m = names.model(session, model, revision)
    ht = names.head_type(session, head_type)
    run_id = session.scalar(
        select(func.max(HeadScore.run_id)).where(
            HeadScore.run_id.in_(latest_runs(m.id)), HeadScore.head_type_id == ht.id
        )
    )
    if run_id is None:
        shown = m.name if not m.revision else f"{m.name}@{m.revision}"
        raise NotFoundError(f"no detector scores for {ht.slug!r} on model {shown!r} yet")
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
    return grid


def runs(session: Session, model: str | None = None, revision: str | None = None) -> ResultList[RunInfo]:
    """Detector runs, newest first, optionally of one model (at one revision)."""
    query = select(DetectorRun).options(selectinload(DetectorRun.model))
    if model is not None:
        query = query.where(DetectorRun.model_id == names.model(session, model, revision).id)
    found = list(session.scalars(query.order_by(DetectorRun.id.desc())))
    counts = label_counts(session, (r.id for r in found))
    return result_list(RunInfo, [run_info(r, counts.get(r.id, 0)) for r in found])


def agreement(
    session: Session, model: str, head_type: str | None = None, revision: str | None = None, basis: str | None = None
) -> ResultList[AgreementRow]:
    """Claims against detector labels (``basis`` "detector"), against the labels published data
    implies ("published"), or both (None)."""
    m = names.model(session, model, revision)
    ht = names.head_type(session, head_type) if head_type is not None else None
    rows = agreement_rows(session, m, ht) if basis != "published" else []
    if basis != "detector":
        rows += published_agreement_rows(session, m, ht)
    return result_list(AgreementRow, rows)


def label_counts(session: Session, run_ids: Iterable[int]) -> dict[int, int]:
    ids = list(run_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(HeadLabel.run_id, func.count()).where(HeadLabel.run_id.in_(ids)).group_by(HeadLabel.run_id)
    )
    return {run_id: n for run_id, n in rows}


def run_info(r: DetectorRun, n_labels: int) -> RunInfo:
    return RunInfo(
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
        n_labels=n_labels,
        error=r.error,
        revision=r.model.revision,
    )
