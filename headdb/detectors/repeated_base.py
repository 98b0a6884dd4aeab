"""Shared base of the detectors that read repeated random tokens (previous-token, duplicate-token,
induction): one dataset and one forward pass, whatever subset of them runs."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from headdb.detectors.base import Detector
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import repeated_attention, repeated_data

DATA = "repeated random tokens: BOS + n random ordinary tokens, repeated once"


class RepeatedTokensDetector(Detector):
    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 32
        half_length: int = 50
        seed: int = 0

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"repeated_random_tokens": self._data(ctx).fingerprint}

    def _data(self, ctx: ModelContext):  # type: ignore[no-untyped-def]
        return repeated_data(ctx, self.config.n_prompts, self.config.half_length, self.config.seed)

    def attention(self, ctx: ModelContext, target: str) -> torch.Tensor:
        """Mean attention of every head to ``target`` ("prev", "dup" or "ind"): [layers, heads]."""
        return repeated_attention(ctx, self._data(ctx))[target]
