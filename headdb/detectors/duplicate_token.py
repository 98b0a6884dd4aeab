"""Duplicate-token heads: attention from a token to its own earlier occurrence."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import DATA, RepeatedTokensDetector

MAJORITY = 0.5  # most of the head's attention goes to the earlier copy of the current token


@register
class DuplicateTokenDetector(RepeatedTokensDetector):
    metadata = DetectorMetadata(
        name="duplicate-token",
        version="1.0",
        head_types=("duplicate-token",),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="Mean attention from each token of the second copy of a repeated random sequence "
        "to the same token in the first copy (Wang et al.'s duplicate-token pattern); attention "
        "to BOS or to the token itself counts as missed.",
        data=DATA,
        label_rules={"duplicate-token": f"mean attention to the earlier occurrence > {MAJORITY}"},
    )

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        attention = self.attention(ctx, "dup")
        return [HeadTypeScores("duplicate-token", attention, attention > MAJORITY, {"attention": attention})]
