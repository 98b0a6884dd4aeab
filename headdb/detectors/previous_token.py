"""Previous-token heads: attention from each token to the one just before it."""

from __future__ import annotations

from dataclasses import dataclass

from headdb.detectors.base import Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import repeated_attention, repeated_data

# A head "is" a previous-token head when that is what it mostly does: more than half of its
# attention mass goes to the previous position.
MAJORITY = 0.5


@register
class PreviousTokenDetector(Detector):
    metadata = DetectorMetadata(
        name="previous-token",
        version="1.0",
        head_types=("previous-token",),
        paper="2022-context-learning-induction-heads",
        method="Mean attention from position i to position i-1 on repeated random tokens "
        "(Olsson et al.); positions whose previous token is BOS are not scored, and attention "
        "to BOS counts as missed.",
        data="repeated random tokens: BOS + n random ordinary tokens, repeated once",
        label_rules={"previous-token": f"mean attention to the previous token > {MAJORITY}"},
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
        attention = repeated_attention(ctx, self._data(ctx))["prev"]
        return [HeadTypeScores("previous-token", attention, attention > MAJORITY, {"attention": attention})]
