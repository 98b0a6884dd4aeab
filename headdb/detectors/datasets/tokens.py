"""Tokenizer helpers shared by the dataset builders: single-token checks and word positions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from headdb.detectors.datasets import DatasetUnavailable
from headdb.detectors.datasets.probes import Probes, english

_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
_WORD_START = ("\u0120", "\u2581")  # GPT-2 BPE's "Ġ" and sentencepiece's "▁" mark a preceding space

# Which tokens random-token probes draw from. "default": the model's probe file's random words if
# it names any, else "all"; "all": every ordinary token; "word-start" / "word-inner": ordinary
# tokens that do / do not begin a word (BPE "Ġ" or sentencepiece "▁"; word-level vocabularies
# count every token as a word start); "half-1" / "half-2": two disjoint halves of the default pool,
# split by a fixed permutation, so two runs can draw their random tokens from pools that share no
# token (the label-stability check uses them).
POOLS = ("default", "all", "word-start", "word-inner", "half-1", "half-2")
_HALVES_SEED = 20240601  # fixed: the halves must be the same sets in every run


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    offsets: list[tuple[int, int]]


class TokenizerView:
    """What the datasets need from a Hugging Face tokenizer, with the model's BOS convention.

    Every prompt starts with the model's BOS token when the tokenizer has one: detectors never
    score attention *to* BOS as a target, so heads that park attention there score low.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, probes: Probes | None = None) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.probes = probes or english()
        self.bos_id: int | None = tokenizer.bos_token_id
        self.pad_id: int = (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else (tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0)
        )
        self._single: dict[str, int | None] = {}

    def encode(self, text: str) -> Encoded:
        out = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return Encoded(list(out["input_ids"]), [tuple(o) for o in out["offset_mapping"]])

    def with_bos(self, ids: list[int]) -> list[int]:
        return ([self.bos_id] if self.bos_id is not None else []) + ids

    def single_token(self, word: str) -> int | None:
        """The id of ``word`` as it appears inside running text, if that is exactly one token.

        BPE vocabularies mark a preceding space (" Mary" -> one token "ĠMary"); sentencepiece
        vocabularies add the word-start marker themselves ("Mary" -> "▁Mary"). The word is
        checked in the middle of a sentence, so both conventions give the in-text token."""
        if word not in self._single:
            self._single[word] = self._in_context_token(word)
        return self._single[word]

    def _in_context_token(self, word: str) -> int | None:
        text = f"and {word}"
        start = len("and ")
        enc = self.encode(text)
        covering = [i for i, (a, b) in enumerate(enc.offsets) if b > start]
        if len(covering) != 1:
            return None
        a, b = enc.offsets[covering[0]]
        # The token may carry the preceding space (BPE), but nothing of "and" and no more text.
        if b != len(text) or a < start - 1:
            return None
        return enc.ids[covering[0]]

    def first_token(self, word: str) -> int | None:
        """The first in-text token of ``word`` (the whole word if it is a single token)."""
        text = f"and {word}"
        enc = self.encode(text)
        covering = [i for i, (a, b) in enumerate(enc.offsets) if b > len("and ")]
        return enc.ids[covering[0]] if covering else None

    def pool(self, kind: str = "default") -> torch.Tensor:
        """Token ids random-token probes draw from (see ``POOLS``)."""
        if kind not in POOLS:
            raise DatasetUnavailable(f"unknown token pool {kind!r}; choose one of {', '.join(POOLS)}")
        if kind == "default":
            if self.probes.random_words is None:
                return self.ordinary_token_ids()
            ids = [self.single_token(w) for w in self.probes.random_words]
            return torch.tensor(sorted({i for i in ids if i is not None}), dtype=torch.long)
        if kind in ("half-1", "half-2"):
            ids = self.pool("default")
            order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(_HALVES_SEED))
            chosen = order[: len(ids) // 2] if kind == "half-1" else order[len(ids) // 2:]
            return ids[chosen.sort().values]
        ids = self.ordinary_token_ids()
        if kind == "all":
            return ids
        pieces = self.tokenizer.convert_ids_to_tokens(ids.tolist())
        word_level = not any(p.startswith(_WORD_START) for p in pieces)
        starts = torch.tensor([word_level or p.startswith(_WORD_START) for p in pieces])
        return ids[starts] if kind == "word-start" else ids[~starts]

    def ordinary_token_ids(self) -> torch.Tensor:
        """Ids usable as 'random tokens': not special, not byte-fallback pieces."""
        special = set(self.tokenizer.all_special_ids)
        ids = []
        for i in range(min(self.vocab_size, len(self.tokenizer))):
            if i in special:
                continue
            piece = self.tokenizer.convert_ids_to_tokens(i)
            if piece is None or _BYTE_PIECE.match(piece):
                continue
            ids.append(i)
        return torch.tensor(ids, dtype=torch.long)


@dataclass(frozen=True)
class Prompt:
    """A prompt as token ids with named word positions (indices into ``ids``)."""

    ids: list[int]
    spans: dict[str, list[int]]


def build_prompt(view: TokenizerView, text: str, marks: dict[str, tuple[int, int]]) -> Prompt | None:
    """Tokenize ``text`` (BOS prepended) and map each marked character span to token positions.

    Returns None when a mark does not align with token boundaries, so a prompt whose words
    merge with their neighbours is dropped rather than mis-indexed."""
    enc = view.encode(text)
    shift = 1 if view.bos_id is not None else 0
    spans: dict[str, list[int]] = {}
    for name, (start, end) in marks.items():
        positions = [
            i for i, (a, b) in enumerate(enc.offsets) if b > a and a < end and b > start
        ]
        if not positions:
            return None
        first_a, last_b = enc.offsets[positions[0]][0], enc.offsets[positions[-1]][1]
        # A token may include the preceding space; it must not reach into other words.
        if first_a < start - 1 or last_b > end:
            return None
        spans[name] = [p + shift for p in positions]
    return Prompt(view.with_bos(enc.ids), spans)


def pad_batch(prompts: list[list[int]], pad_id: int) -> torch.Tensor:
    """Right-pad to one length: with causal attention, padding after a position cannot change it."""
    length = max(len(p) for p in prompts)
    out = torch.full((len(prompts), length), pad_id, dtype=torch.long)
    for row, ids in enumerate(prompts):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
