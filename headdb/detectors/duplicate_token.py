"""Duplicate-token heads: attention from a token to its own earlier occurrence."""

from __future__ import annotations

from typing import Any

from headdb.detectors.base import CONVENTION, Check, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import pattern_checks, pattern_result
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import CHANGES_2_1, DATA, RepeatedTokensDetector, resampled
from headdb.detectors.shared import without_bos


@register
class DuplicateTokenDetector(RepeatedTokensDetector):
    metadata = DetectorMetadata(
        name="duplicate-token",
        version="2.1",
        head_types=("duplicate-token",),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="Mean attention from each token of the second copy of a repeated random sequence to "
        "the same token in the first copy, per prompt (Wang et al.'s duplicate-token pattern); "
        "attention to BOS or to the token itself counts as missed. Reported beside it: the same "
        "with BOS left out.",
        data=DATA,
        null="the same query and key positions in the control twins, where nothing repeats: "
        "bootstrap means, pooled over the model's heads, give an empirical p-value",
        changes=CHANGES_2_1 + " "
        "2.0: per-prompt bootstrap intervals, null p-values (control twins) with "
        "Benjamini-Hochberg adjustment, majority convention on the interval's lower end.",
    )

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {"duplicate-token": pattern_checks(config.calibration, config.majority, CONVENTION,
                                                  "attention to the earlier occurrence" + resampled(config))}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        a = self.attention(ctx)
        extra = {"attention_without_bos": without_bos(a["dup"], a["dup_bos"]).mean(0)}
        return [pattern_result("duplicate-token", a["dup"], a["dup_control"], self.checks(self.config)["duplicate-token"],
                               self.config.calibration, extra,
                               cells=self.cells(ctx, "dup"))]
