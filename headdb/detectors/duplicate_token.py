"""Duplicate-token heads: attention from a token to its own earlier occurrence."""

from __future__ import annotations

from dataclasses import dataclass

from headdb.detectors.base import Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import repeated_attention, repeated_data

MAJORITY = 0.5  # most of the head's attention goes to the earlier copy of the current token


@register
class DuplicateTokenDetector(Detector):
    metadata = DetectorMetadata(
        name="duplicate-token",
        version="1.0",
        head_types=("duplicate-token",),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="Mean attention from each token of the second copy of a repeated random sequence "
        "to the same token in the first copy (Wang et al.'s duplicate-token pattern); attention "
        "to BOS or to the token itself counts as missed.",
        data="repeated random tokens: BOS + n random ordinary tokens, repeated once",
        label_rules={"duplicate-token": f"mean attention to the earlier occurrence > {MAJORITY}"},
    )

    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 32
        half_length: int = 50
        seed: int = 0

    def _data(self, ctx: ModelContext):  # type: ignore[no-untyped-def]
        return repeated_data(ctx, self.config.n_prompts, self.config.half_length, self.config.seed)

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"repeated_random_tokens": self._data(ctx).fingerprint}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        attention = repeated_attention(ctx, self._data(ctx))["dup"]
        return [HeadTypeScores("duplicate-token", attention, attention > MAJORITY, {"attention": attention})]
