"""Typed, session-free records returned by the query API, and a list type that becomes a DataFrame."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


class ResultList(list[T], Generic[T]):
    """A plain list of records, plus ``to_frame()`` for a pandas DataFrame (one row a record)."""

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [_row(item) for item in self]
        if rows:
            return pd.DataFrame(rows)
        return pd.DataFrame(columns=self._columns())

    def _columns(self) -> list[str]:
        cls = getattr(self, "record_type", None)
        return [f.name for f in dataclasses.fields(cls)] if cls else []


def result_list(record_type: type[T], items: list[T]) -> ResultList[T]:
    out: ResultList[T] = ResultList(items)
    out.record_type = record_type  # type: ignore[attr-defined]
    return out


def _row(item: object) -> dict[str, Any]:
    row = dataclasses.asdict(item)  # type: ignore[call-overload]
    return {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}


@dataclasses.dataclass(frozen=True)
class PaperInfo:
    slug: str
    title: str
    date: dt.date
    date_precision: str  # day | month | year: how much of ``date`` the source gives
    venue: str
    arxiv_id: str | None
    authors: tuple[str, ...]
    head_types: tuple[str, ...]
    links: tuple[str, ...]
    innovation: str
    tasks: str
    significant_result: str
    n_claims: int

    @property
    def date_text(self) -> str:
        """The date as far as it is known: 2024-05-28, 2024-05 or 2024."""
        return self.date.isoformat()[: {"day": 10, "month": 7, "year": 4}[self.date_precision]]


@dataclasses.dataclass(frozen=True)
class HeadTypeInfo:
    slug: str
    name: str
    stage: str | None
    stage_name: str | None
    group: str | None
    aliases: tuple[str, ...]
    model_families: tuple[str, ...]
    description: str


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str | None
    source: str | None
    architecture: str | None
    n_layers: int | None
    n_heads: int | None
    n_kv_heads: int | None
    d_model: int | None
    d_head: int | None
    d_vocab: int | None
    weights_fingerprint: str | None
    revision: str | None
    step: int | None = None  # the training step of a checkpoint revision
    source_kind: str | None = None  # hub | local | zoo


@dataclasses.dataclass(frozen=True)
class ClaimInfo:
    model: str
    layer: int
    head: int
    head_type: str | None
    head_type_name: str | None
    role: str | None
    note: str | None
    paper: str
    paper_title: str
    source: str
    confidence: str

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


@dataclasses.dataclass(frozen=True)
class LabelInfo:
    model: str
    layer: int
    head: int
    head_type: str
    score: float
    rank: int
    detector: str
    detector_version: str
    run_id: int
    revision: str = ""

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


@dataclasses.dataclass(frozen=True)
class RunInfo:
    id: int
    model: str
    detector: str
    detector_version: str
    status: str
    started_at: dt.datetime
    duration_s: float | None
    device: str
    dtype: str
    config_fingerprint: str
    data_fingerprint: str
    n_labels: int
    error: str | None
    revision: str = ""


@dataclasses.dataclass(frozen=True)
class TrainingPoint:
    """One head's score for one head type at one training step, and whether it was labelled."""

    model: str
    revision: str
    step: int
    head_type: str
    layer: int
    head: int
    score: float | None
    label: bool
    detector: str
    run_id: int

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


@dataclasses.dataclass(frozen=True)
class FirstLabel:
    """When one head's label for one head type first holds over training.

    ``first_step``: the earliest scored step at which the head is labelled (None: never).
    ``stable_step``: the earliest scored step from which it is labelled at every later scored
    step, the last included (None: not labelled at the last step). A label that appears, vanishes
    and comes back has ``first_step < stable_step``."""

    model: str
    head_type: str
    layer: int
    head: int
    first_step: int | None
    stable_step: int | None
    n_labelled: int  # scored steps at which the label holds
    n_steps: int  # scored steps
    final_score: float | None  # the score at the last scored step

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


class Training(ResultList[TrainingPoint]):
    """Scores and labels of one model's heads over its training steps (``HeadDB.training``): a
    list of ``TrainingPoint`` ordered by head type, layer, head, step (``to_frame()``: one row a
    point), with ``first_labels`` (a ``ResultList[FirstLabel]``, one per head and head type) and
    ``steps`` (the scored steps, ascending)."""

    model: str
    steps: tuple[int, ...]
    first_labels: ResultList[FirstLabel]

    def __init__(self, model: str, points: list[TrainingPoint], first_labels: list[FirstLabel]) -> None:
        super().__init__(points)
        self.record_type = TrainingPoint  # type: ignore[attr-defined]
        self.model = model
        self.steps = tuple(sorted({p.step for p in points}))
        self.first_labels = result_list(FirstLabel, first_labels)

    @property
    def head_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.head_type for p in self))
