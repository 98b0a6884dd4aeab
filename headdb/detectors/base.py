"""The one interface every detector implements, its validated metadata, and the registry.

A detector scores every (layer, head) of a model for one or more head types and says, per head
type, how a score becomes a label: a documented rule taken from the method (a majority of
attention mass, a majority of correct top-k reads, a significant causal effect), never a cut-off
fitted to a published list of heads.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import DatasetUnavailable
from headdb.detectors.kernels import ranks


class DetectorMetadata(BaseModel):
    """What a detector is, for people and for the database (validated at registration)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: str = Field(pattern=r"^\d+\.\d+$")
    head_types: tuple[str, ...] = Field(min_length=1)  # taxonomy slugs this detector scores
    paper: str  # catalog slug of the paper whose method it implements
    method: str
    data: str
    label_rules: dict[str, str]  # head type slug -> the criterion, in words


@dataclass
class HeadTypeScores:
    """Scores of every head for one head type: a [layers, heads] grid, its components (the
    quantities the score is built from), and which heads the rule labels."""

    head_type: str
    scores: torch.Tensor
    labels: torch.Tensor  # bool [layers, heads]
    components: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def ranks(self) -> torch.Tensor:
        return ranks(self.scores)

    def labelled(self) -> list[tuple[int, int]]:
        return [(int(l), int(h)) for l, h in self.labels.nonzero().tolist()]

    def top(self, k: int = 1) -> list[tuple[int, int]]:
        n_heads = self.scores.shape[1]
        flat = self.scores.flatten().nan_to_num(float("-inf"))
        return [(int(i) // n_heads, int(i) % n_heads) for i in flat.argsort(descending=True)[:k]]


class Detector(ABC):
    """Scores all heads of a model for its head types. Subclasses set ``metadata`` and a
    dataclass ``Config``; ``score`` must not touch the database or the file system."""

    metadata: ClassVar[DetectorMetadata]

    @dataclass(frozen=True)
    class Config:
        seed: int = 0

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

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


def register(cls: type[Detector]) -> type[Detector]:
    meta = cls.metadata
    if meta.name in REGISTRY:
        raise ValueError(f"detector {meta.name!r} registered twice")
    if set(meta.label_rules) != set(meta.head_types):
        raise ValueError(f"detector {meta.name!r}: label_rules must cover exactly its head types")
    REGISTRY[meta.name] = cls
    return cls


def get_detector(name: str) -> type[Detector]:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown detector {name!r}; known detectors: {known}")
    return REGISTRY[name]
