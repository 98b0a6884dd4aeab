"""Previous-token heads: attention from each token to the one just before it."""

from __future__ import annotations

from typing import Any

from headdb.detectors.base import CONVENTION, Check, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import pattern_checks, pattern_result
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import CHANGES_2_1, DATA, RepeatedTokensDetector, resampled
from headdb.detectors.shared import without_bos


@register
class PreviousTokenDetector(RepeatedTokensDetector):
    metadata = DetectorMetadata(
        name="previous-token",
        version="2.1",
        head_types=("previous-token",),
        paper="2022-context-learning-induction-heads",
        method="Mean attention from position i to position i-1 on repeated random tokens, per prompt "
        "(the pattern Olsson et al. describe); queries whose previous token is BOS are not scored. "
        "Reported beside it: the same attention with BOS left out (renormalised over the other keys).",
        data=DATA,
        null="attention from the same queries to a uniformly drawn earlier position other than i-1 "
        "and BOS: bootstrap means of it for every head, pooled over the model's heads, give each "
        "head an empirical p-value",
        changes=CHANGES_2_1 + " "
        "2.0: per-prompt bootstrap intervals, null p-values with Benjamini-Hochberg "
        "adjustment, and the majority convention applied to the interval's lower end (1.0 used the mean).",
    )

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {"previous-token": pattern_checks(config.calibration, config.majority, CONVENTION,
                                                 "attention to the previous token" + resampled(config))}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        a = self.attention(ctx)
        extra = {"attention_without_bos": without_bos(a["prev"], a["prev_bos"]).mean(0)}
        return [pattern_result("previous-token", a["prev"], a["prev_null"], self.checks(self.config)["previous-token"],
                               self.config.calibration, extra,
                               cells=self.cells(ctx, "prev"))]
