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
    venue: str | None  # the peer-reviewed venue with its year, where there is one
    arxiv_id: str | None
    authors: tuple[str, ...]
    head_types: tuple[str, ...]
    links: tuple[str, ...]
    innovation: str
    tasks: str
    significant_result: str
    n_claims: int
    published_in: str = ""  # where the first public version (``date``) appeared
    venue_year: int | None = None
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # field -> why it is empty
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # field -> where it was read

    @property
    def where(self) -> str:
        """The venue where there is one, else where the paper appeared: 'ICLR 2024', 'arXiv'."""
        return self.venue or self.published_in

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
    kind: str = "mechanistic"  # mechanistic | intervention-selected | score-selected
    kind_note: str | None = None
    placement: dict[str, str] = dataclasses.field(default_factory=dict)  # by, paper, reason, confidence
    merged: tuple[dict[str, str], ...] = ()  # former duplicate types folded into this one
    distinct_from: tuple[dict[str, str], ...] = ()


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
    conflict: str | None = None  # where sources disagree about this claim

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"


@dataclasses.dataclass(frozen=True)
class PublishedInfo:
    """A dataset a paper published for every head of a model (or a circuit's heads), with its
    source; ``values`` maps "layer.head" to the value (members datasets: 1.0 per circuit head)."""

    slug: str
    paper: str
    paper_title: str
    model: str
    head_type: str | None
    kind: str  # scores | members
    title: str
    quantity: str
    repository: str
    path: str
    commit: str
    derivation: str
    derived_by: str | None
    n_samples: int | None
    threshold: float | None
    threshold_op: str | None
    threshold_source: str | None
    note: str | None
    n_layers: int
    n_heads: int
    values: dict[str, float]
    roles: dict[str, str]

    @property
    def labelled(self) -> list[str]:
        """Heads past the paper's own threshold ("published labels"), highest value first."""
        if self.threshold is None:
            return []
        passes = (lambda v: v > self.threshold) if self.threshold_op == ">" else (lambda v: v >= self.threshold)
        return [c for c, v in sorted(self.values.items(), key=lambda kv: -kv[1]) if passes(v)]

    @property
    def source_url(self) -> str:
        """The file at the commit read, on the hosting site (GitHub's blob URL form)."""
        return f"{self.repository.rstrip('/')}/blob/{self.commit}/{self.path}"

    def grid(self) -> list[list[float]]:
        """Layer x head values; heads a members dataset does not list are 0."""
        grid = [[0.0 if self.kind == "members" else float("nan")] * self.n_heads for _ in range(self.n_layers)]
        for coordinate, value in self.values.items():
            layer, head = (int(x) for x in coordinate.split("."))
            grid[layer][head] = value
        return grid


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
    n_heads_scored: int = 0  # how many heads the run scored for this type (for the percentile)
    ci_low: float | None = None  # 95% bootstrap interval of the score
    ci_high: float | None = None
    q_value: float | None = None  # p-value against the detector's null, adjusted over heads
    evidence: tuple[dict[str, Any], ...] = ()  # each check of the rule with its value and source
    circuit_id: int | None = None  # the circuit the label was read from, if any
    revision: str = ""

    @property
    def coordinate(self) -> str:
        return f"{self.layer}.{self.head}"

    @property
    def percentile(self) -> float | None:
        """Share of the model's heads scoring below this one, in percent (rank 1 of 144: 99.3)."""
        if not self.n_heads_scored:
            return None
        return 100.0 * (self.n_heads_scored - self.rank) / self.n_heads_scored

    @property
    def interval(self) -> str:
        return "" if self.ci_low is None or self.ci_high is None else f"[{self.ci_low:.3f}, {self.ci_high:.3f}]"


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
