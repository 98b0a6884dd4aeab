"""Reading stored validation reports."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from headdb.db.models import ValidationResult, ValidationRun

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True)
class ValidationRow:
    model: str
    model_kind: str
    detector: str
    detector_version: str
    head_type: str
    n_positive: int
    n_negative: int
    n_ambiguous: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float | None
    recall: float | None
    auroc: float | None
    true_head_ranks: dict[str, int]
    labelled: list[str]
    note: str
    detector_run_id: int | None


@dataclasses.dataclass(frozen=True)
class ValidationInfo:
    id: int
    subset: str
    started_at: dt.datetime
    duration_s: float | None
    zoo: dict[str, str]
    detector_versions: dict[str, str]
    library_versions: dict[str, str]
    stability: dict[str, Any]
    rows: tuple[ValidationRow, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per (model, detector, head type)."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows])


def latest_validation(session: Session, subset: str | None = None) -> ValidationInfo | None:
    """The newest stored validation run (of ``subset``, if given), with its results."""
    query = select(ValidationRun).options(selectinload(ValidationRun.results)).order_by(ValidationRun.id.desc())
    if subset is not None:
        query = query.where(ValidationRun.subset == subset)
    run = session.scalars(query.limit(1)).first()
    if run is None:
        return None
    fields = [f.name for f in dataclasses.fields(ValidationRow)]
    rows = tuple(ValidationRow(**{k: getattr(r, k) for k in fields}) for r in run.results)
    return ValidationInfo(run.id, run.subset, run.started_at, run.duration_s, dict(run.zoo),
                          dict(run.detector_versions), dict(run.library_versions), dict(run.stability or {}), rows)
