"""Shared base of the Knowledge Circuits detectors (mover and relation heads)."""

from __future__ import annotations

from dataclasses import dataclass

from headdb.detectors.base import Detector
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import factual_data, factual_reads

MAJORITY = 0.5
PAPER = "2024-knowledge-circuits-pretrained-transformers"
DATA = "factual prompts from 200 (country, relation, object) triples over 4 relations"


class FactualDetector(Detector):
    @dataclass(frozen=True)
    class Config:
        seed: int = 0  # the prompts are deterministic; kept for a uniform config

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"factual": factual_data(ctx).fingerprint}

    def reads(self, ctx: ModelContext):  # type: ignore[no-untyped-def]
        return factual_reads(ctx, factual_data(ctx))
