"""Heads across training: one model's scores and labels at every stored revision that names a
training step (checkpoints swept with ``headdb sweep``), and when each label first holds.

The model is every stored revision of one name (``model_name_key``) whose ``step`` is known; the
model as published (revision "") has no step and is not part of it. At each revision the newest
run of each detector counts (``headdb.queries.latest``). If two revisions name the same step, a
head's label holds at that step when it holds in either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model, model_name_key
from headdb.errors import NotFoundError
from headdb.queries import names
from headdb.queries.latest import latest_runs
from headdb.results import FirstLabel, Training, TrainingPoint


def first_label_steps(series: Sequence[tuple[int, bool]]) -> tuple[int | None, int | None, int]:
    """``(first_step, stable_step, n_labelled)`` of one head's ``(step, labelled)`` series, which
    must be sorted by step with one entry per step (see ``FirstLabel``)."""
    first = next((step for step, labelled in series if labelled), None)
    stable = None
    for step, labelled in reversed(series):
        if not labelled:
            break
        stable = step
    return first, stable, sum(labelled for _, labelled in series)


def stepped_revisions(session: Session, name: str) -> list[Model]:
    """The stored revisions of ``name`` that name a training step, by step, then revision."""
    key = model_name_key(name)
    found = list(session.scalars(
        select(Model).where(Model.name_key == key, Model.step.is_not(None)).order_by(Model.step, Model.revision)
    ))
    if not found and Path(name).expanduser().is_dir():
        from headdb.jobs.loading import local_model_name

        return stepped_revisions(session, local_model_name(name))
    return found


def training(session: Session, model: str, head_type: str | None = None) -> Training:
    revisions = stepped_revisions(session, model)
    if not revisions:
        names.model(session, model)  # an unknown name: the usual error with suggestions
        raise NotFoundError(
            f"model {model!r} has no stored revision with a training step; sweep its checkpoints first "
            "(`headdb sweep DIR@checkpoints`, or `headdb sweep HUB_ID@step{1000..3000..1000}`)"
        )
    by_id = {m.id: m for m in revisions}
    query = (
        select(DetectorRun.model_id, DetectorRun.detector, HeadScore.run_id, HeadType.slug, Head.layer, Head.head,
               HeadScore.score, HeadLabel.run_id.is_not(None))
        .select_from(HeadScore)
        .join(DetectorRun, DetectorRun.id == HeadScore.run_id)
        .join(Head, Head.id == HeadScore.head_id)
        .join(HeadType, HeadType.id == HeadScore.head_type_id)
        .outerjoin(HeadLabel, and_(HeadLabel.run_id == HeadScore.run_id, HeadLabel.head_type_id == HeadScore.head_type_id,
                                   HeadLabel.head_id == HeadScore.head_id))
        .where(HeadScore.run_id.in_(latest_runs(by_id)))
    )
    if head_type is not None:
        query = query.where(HeadScore.head_type_id == names.head_type(session, head_type).id)
    name = revisions[-1].name
    points = [
        TrainingPoint(name, by_id[model_id].revision, by_id[model_id].step or 0, slug, layer, head,
                      score, bool(labelled), detector, run_id)
        for model_id, detector, run_id, slug, layer, head, score, labelled in session.execute(query)
    ]
    points.sort(key=lambda p: (p.head_type, p.layer, p.head, p.step, p.revision))
    return Training(name, points, first_labels(name, points))


def first_labels(name: str, points: Sequence[TrainingPoint]) -> list[FirstLabel]:
    """One ``FirstLabel`` per head and head type of ``points`` (sorted as ``training`` sorts them)."""
    series: dict[tuple[str, int, int], dict[int, bool]] = defaultdict(dict)
    final: dict[tuple[str, int, int], float | None] = {}
    for p in points:
        key = (p.head_type, p.layer, p.head)
        series[key][p.step] = series[key].get(p.step, False) or p.label
        final[key] = p.score  # points are in step order: the last one wins
    out = []
    for (slug, layer, head), by_step in series.items():
        ordered = sorted(by_step.items())
        first, stable, n = first_label_steps(ordered)
        out.append(FirstLabel(name, slug, layer, head, first, stable, n, len(ordered), final[(slug, layer, head)]))
    return out
