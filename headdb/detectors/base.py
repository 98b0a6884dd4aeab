"""The one interface every detector implements, its validated metadata, and the registry.

A detector scores every (layer, head) of a model for one or more head types. Per head and type it
reports the score, a bootstrap confidence interval, a p-value against a stated null and its
multiple-testing adjustment, and whether the head is labelled. A label is a conjunction of
``Check``s (a quantity, a comparison, a threshold, and where the threshold comes from: a paper, or
headdb's own convention), so every label can say in numbers why it holds.
"""

from __future__ import annotations

import dataclasses
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import DatasetUnavailable
from headdb.detectors.kernels import ranks

CONVENTION = "headdb convention"
_OPS: dict[str, Callable[[Any, Any], Any]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Check:
    """One condition of a label rule: ``component op threshold``, for every head at once.

    ``source`` is where the threshold comes from: ``CONVENTION`` for headdb's own choice, or a
    citation ("Wang et al. 2023, Appendix F") where a paper states it."""

    component: str
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    source: str
    meaning: str  # what the component is, in words

    def holds(self, components: dict[str, torch.Tensor]) -> torch.Tensor:
        return _OPS[self.op](components[self.component], self.threshold)

    def text(self) -> str:
        where = "headdb's convention" if self.source == CONVENTION else self.source
        return f"{self.meaning} {self.op} {self.threshold:g} ({where})"


def rule_text(checks: list[Check]) -> str:
    return "; and ".join(c.text() for c in checks)


class DetectorMetadata(BaseModel):
    """What a detector is, for people and for the database (validated at registration)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: str = Field(pattern=r"^\d+\.\d+$")
    head_types: tuple[str, ...] = Field(min_length=1)  # taxonomy slugs this detector scores
    paper: str  # catalog slug of the paper whose method it implements
    method: str
    data: str
    null: str  # what the p-values are computed against
    # head type slug -> the criterion in words; filled in by ``register`` from the checks
    label_rules: dict[str, str] = Field(default_factory=dict)
    score_range: tuple[float, float] = (0.0, 1.0)  # for heatmap scales
    higher_is_better: bool = True
    changes: str = ""  # what changed from the previous version
    # In the default suite (`headdb detect` without --detectors)? Circuit discovery costs many
    # forward and backward passes, so circuit-defined detectors run when asked for.
    in_default_suite: bool = True

    @model_validator(mode="after")
    def _rules_cover_types(self) -> DetectorMetadata:
        if self.label_rules and set(self.label_rules) != set(self.head_types):
            raise ValueError(f"detector {self.name!r}: label_rules must cover exactly its head types")
        return self


@dataclass
class HeadTypeScores:
    """Every head's result for one head type, as [layers, heads] grids.

    ``components`` holds the quantities the score and checks are built from; ``ci_low`` and
    ``ci_high`` a 95% bootstrap interval of the score over prompts (and tokens, where the
    detector resamples them); ``p_value`` the test against the detector's null and ``q_value``
    its adjustment over all heads tested."""

    head_type: str
    scores: torch.Tensor
    labels: torch.Tensor  # bool
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    ci_low: torch.Tensor | None = None
    ci_high: torch.Tensor | None = None
    p_value: torch.Tensor | None = None
    q_value: torch.Tensor | None = None
    checks: list[Check] = field(default_factory=list)
    # Circuit-defined types: the circuits the labels were read from, and each label's circuit.
    circuits: list[Any] = field(default_factory=list)
    label_circuit: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def ranks(self) -> torch.Tensor:
        return ranks(self.scores)

    def labelled(self) -> list[tuple[int, int]]:
        return [(int(l), int(h)) for l, h in self.labels.nonzero().tolist()]

    def top(self, k: int = 1) -> list[tuple[int, int]]:
        n_heads = self.scores.shape[1]
        flat = self.scores.flatten().nan_to_num(float("-inf"))
        return [(int(i) // n_heads, int(i) % n_heads) for i in flat.argsort(descending=True)[:k]]

    def evidence(self, layer: int, head: int) -> list[dict[str, Any]]:
        """Each check of the rule with this head's value: what a reader needs to verify a label."""
        return [
            {
                "check": c.meaning,
                "value": float(self.components[c.component][layer, head]),
                "op": c.op,
                "threshold": c.threshold,
                "source": c.source,
                "holds": bool(c.holds(self.components)[layer, head]),
            }
            for c in self.checks
        ]


def decide(head_type: str, scores: torch.Tensor, components: dict[str, torch.Tensor], checks: list[Check],
           *, ci: tuple[torch.Tensor, torch.Tensor] | None = None, p: torch.Tensor | None = None,
           q: torch.Tensor | None = None, allowed: torch.Tensor | bool = True) -> HeadTypeScores:
    """Label the heads where every check holds (and ``allowed``, e.g. heads that were tested)."""
    labels = torch.ones_like(scores, dtype=torch.bool) & torch.as_tensor(allowed)
    for check in checks:
        labels &= check.holds(components)
    return HeadTypeScores(head_type, scores, labels, components,
                          ci[0] if ci else None, ci[1] if ci else None, p, q, checks)


class Detector(ABC):
    """Scores all heads of a model for its head types. Subclasses set ``metadata`` and a frozen
    dataclass ``Config`` (thresholds included, so changing one changes the run's fingerprint);
    ``score`` must not touch the database or the file system."""

    metadata: ClassVar[DetectorMetadata]

    @dataclass(frozen=True)
    class Config:
        seed: int = 0

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        """The label rule of each head type under ``config``."""
        raise NotImplementedError

    def applicable(self, ctx: ModelContext) -> str | None:
        """None if the detector can run on this model, else the reason it cannot (by default:
        a dataset it needs cannot be built with this model's tokenizer or context)."""
        try:
            self.data_fingerprints(ctx)
        except DatasetUnavailable as exc:
            return str(exc)
        return None

    @abstractmethod
    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        """Fingerprints of every dataset the detector reads (building them if needed)."""

    @abstractmethod
    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        """Score every head; one entry per head type in ``metadata.head_types``."""


REGISTRY: dict[str, type[Detector]] = {}


def rules(cls: type[Detector]) -> dict[str, str]:
    """Label-rule text of a detector class under its default config (for its metadata)."""
    return {t: rule_text(c) for t, c in cls.checks(cls.Config()).items()}


def register(cls: type[Detector]) -> type[Detector]:
    """Add a detector to ``REGISTRY``, writing its label rules into its metadata from its checks
    (so the words always match the thresholds in its default config)."""
    meta = cls.metadata
    if meta.name in REGISTRY:
        raise ValueError(f"detector {meta.name!r} registered twice")
    if set(cls.checks(cls.Config())) != set(meta.head_types):
        raise ValueError(f"detector {meta.name!r}: checks must cover exactly its head types")
    cls.metadata = DetectorMetadata.model_validate({**meta.model_dump(), "label_rules": rules(cls)})
    REGISTRY[meta.name] = cls
    return cls


def default_suite() -> list[str]:
    """Names of the detectors ``headdb detect`` runs when none are named."""
    return sorted(n for n, cls in REGISTRY.items() if cls.metadata.in_default_suite)


def get_detector(name: str) -> type[Detector]:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown detector {name!r}; known detectors: {known}")
    return REGISTRY[name]
