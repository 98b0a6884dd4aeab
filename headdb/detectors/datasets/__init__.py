"""Datasets the detectors run on, generated from a seed and checked against a model's tokenizer.

Each builder returns a ``PromptSet`` whose fingerprint covers exactly the token ids and positions
a run saw, so a stored run can say what data produced its scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch


class DatasetUnavailable(ValueError):
    """The model's tokenizer cannot express this dataset (e.g. too few single-token names)."""


@dataclass(frozen=True)
class PromptSet:
    """Token ids [n, seq] (right-padded) and named per-prompt positions or ids ([n] or [n, m])."""

    name: str
    tokens: torch.Tensor
    index: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update(self.tokens.cpu().numpy().tobytes())
        for key in sorted(self.index):
            digest.update(key.encode())
            digest.update(self.index[key].cpu().numpy().tobytes())
        digest.update(json.dumps(self.meta, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def subset(self, rows: slice) -> PromptSet:
        return PromptSet(self.name, self.tokens[rows], {k: v[rows] for k, v in self.index.items()}, self.meta)
