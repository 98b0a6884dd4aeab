"""Previous-token heads: attention from each token to the one just before it."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import DATA, RepeatedTokensDetector

# A head "is" a previous-token head when that is what it mostly does: more than half of its
# attention mass goes to the previous position.
MAJORITY = 0.5


@register
class PreviousTokenDetector(RepeatedTokensDetector):
    metadata = DetectorMetadata(
        name="previous-token",
        version="1.0",
        head_types=("previous-token",),
        paper="2022-context-learning-induction-heads",
        method="Mean attention from position i to position i-1 on repeated random tokens "
        "(Olsson et al.); positions whose previous token is BOS are not scored, and attention "
        "to BOS counts as missed.",
        data=DATA,
        label_rules={"previous-token": f"mean attention to the previous token > {MAJORITY}"},
    )

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        attention = self.attention(ctx, "prev")
        return [HeadTypeScores("previous-token", attention, attention > MAJORITY, {"attention": attention})]
