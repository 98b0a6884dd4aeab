"""Shared base of the detectors that read repeated random tokens (previous-token, duplicate-token,
induction): one dataset, one forward pass over it and one over its control twins, whatever subset
of them runs."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from headdb.detectors.base import Detector
from headdb.detectors.calibration import Calibration, Cells
from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.shared import repeated_attention, repeated_cells, repeated_data

DATA = ("repeated random tokens: BOS + n distinct random tokens, repeated once (n = 50, or less "
        "where the context is shorter), drawn from the model's token pool; and control twins whose "
        "second half is fresh tokens")
MAJORITY = 0.5  # "the head mostly does this": headdb's convention where no paper gives a cut-off
CHANGES_2_1 = ("2.1: the 95% interval resamples the query's and the key's token as well as the "
               "prompt (a pigeonhole bootstrap, Owen 2007; config resample_tokens, false gives 2.0's "
               "prompt bootstrap). On stories260K, previous-token head 1.6 scored 0.49 with one half "
               "of the token pool and 0.54 with the other, and the two prompt-only intervals "
               "excluded each other.")


def resampled(config: "RepeatedTokensDetector.Config") -> str:
    """What the interval of a label check resamples, for its description."""
    return " (prompts, query tokens and key tokens resampled)" if config.resample_tokens else " (prompts resampled)"


class RepeatedTokensDetector(Detector):
    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 32
        half_length: int = 50
        seed: int = 0
        pool: str = "default"  # see headdb.detectors.datasets.tokens.POOLS
        majority: float = MAJORITY
        resample_tokens: bool = True  # the interval resamples tokens too (see CHANGES_2_1)
        calibration: Calibration = field(default_factory=Calibration)

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"repeated_random_tokens": self._data(ctx).fingerprint}

    def _data(self, ctx: ModelContext) -> PromptSet:
        c = self.config
        return repeated_data(ctx, c.n_prompts, c.half_length, c.seed, c.pool)

    def attention(self, ctx: ModelContext) -> dict[str, torch.Tensor]:
        """Per-prompt attention to each target and in each null condition (see shared.py)."""
        return repeated_attention(ctx, self._data(ctx))

    def cells(self, ctx: ModelContext, statistic: str) -> Cells | None:
        """Per-query values of ``statistic`` ("prev", "dup" or "ind") for the token-resampling
        interval, or None where the config asks for the prompt bootstrap alone."""
        return repeated_cells(ctx, self._data(ctx))[statistic] if self.config.resample_tokens else None
