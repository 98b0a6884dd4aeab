""""The newest run", defined once: for each model (one revision) and detector, the succeeded run
with the highest id. Labels, scores, agreement, the training view and the site all read results
through this definition. A detector's newer version supersedes its older runs; a failed run never
replaces a succeeded one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, func, select

from headdb.db.models import DetectorRun


def latest_runs(model_ids: int | Iterable[int]) -> Select[tuple[int]]:
    """A select of the ids of the newest succeeded run per detector of each of ``model_ids``
    (served by the ``ix_detector_runs_lookup`` index)."""
    ids = [model_ids] if isinstance(model_ids, int) else list(model_ids)
    condition = DetectorRun.model_id == ids[0] if len(ids) == 1 else DetectorRun.model_id.in_(ids)
    return (
        select(func.max(DetectorRun.id))
        .where(condition, DetectorRun.status == "succeeded")
        .group_by(DetectorRun.model_id, DetectorRun.detector)
    )


def latest_runs_of(model_id: ColumnElement[int]) -> Select[tuple[int]]:
    """``latest_runs`` of the one model whose id is the SQL expression ``model_id`` (a bound
    parameter or a subquery), labelled ``id``."""
    return (
        select(func.max(DetectorRun.id).label("id"))
        .where(DetectorRun.model_id == model_id, DetectorRun.status == "succeeded")
        .group_by(DetectorRun.model_id, DetectorRun.detector)
    )
