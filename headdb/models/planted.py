"""Test models with known answers: GPT-2-architecture models whose weights are set by hand.

The planted model is a 3-layer, 4-head GPT-2 over a word-level vocabulary in which, by
construction:

    0.0 previous-token      Q/K match one-hot positions i and i-1; OV copies the token into PREV
    0.1 duplicate-token     Q/K match token identity, minus a same-position penalty, BOS as sink;
                            OV copies the token into DUP and sets the DUPFLAG feature
    1.0 induction           Q reads the token, K reads PREV (K-composition with 0.0); OV copies
    1.1 successor           OV maps each ordinal token's embedding to its successor's
    1.2 S-inhibition        attends to the repeated name (DUPFLAG + NAME); OV moves DUP to INHIB
    2.0 name mover          attends to names, minus the name held in INHIB; OV copies the name
    2.1 negative name mover same attention as 2.0; OV writes minus the name
    2.2 mover               attends to the subject (country) tokens; OV copies them
    2.3 relation            attends to the relation words; OV copies them
    0.2, 0.3, 1.3           idle: small random weights

The residual stream (768 dims) is split into orthogonal blocks: TOK (token identity, random
unit vectors), PREV, DUP, INHIB (what heads write), POS (one-hot positions) and single-dimension
features. LayerNorm gains are set so a typical input passes through at about unit scale.
The control model has the same tokenizer and shape with GPT-2's random initialisation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from headdb.detectors.datasets.words import (
    COUNTRIES,
    IOI_TEMPLATES,
    NAMES,
    OBJECTS,
    ORDINAL_SETS,
    PLACES,
    RELATION_SPANS,
    RELATIONS,
)

D_MODEL, N_LAYERS, N_HEADS, N_CTX = 768, 3, 4, 128
D_HEAD = D_MODEL // N_HEADS
N_FILLER = 600
BOS = "<|endoftext|>"

TOK, PREV, DUP, INHIB, POS = (slice(i * 128, (i + 1) * 128) for i in range(5))
CONST, NONBOS, NAME, DUPFLAG, ENT, REL, BOSFLAG = range(640, 647)

PLANTED_HEADS: dict[str, list[str]] = {
    "previous-token": ["0.0"],
    "duplicate-token": ["0.1"],
    "induction": ["1.0"],
    "successor": ["1.1"],
    "s-inhibition": ["1.2"],
    "name-mover": ["2.0"],
    "negative-name-mover": ["2.1"],
    "mover": ["2.2"],
    "relation": ["2.3"],
}

_WORD = re.compile(r"\w+|[^\w\s]+")


def vocabulary() -> list[str]:
    """Every word the detector datasets use, plus filler words for random-token probes."""
    words: list[str] = [BOS, "[UNK]"]
    sources = [*NAMES, *(w for ws in ORDINAL_SETS.values() for w in ws), *IOI_TEMPLATES, *PLACES, *OBJECTS,
               *(f for row in COUNTRIES for f in row), *(t for t, _ in RELATIONS.values()),
               *(w for _, ws in RELATIONS.values() for w in ws), "and"]
    for text in sources:
        for word in _WORD.findall(re.sub(r"\{[A-Z]+\}", " ", text)):
            if word not in words:
                words.append(word)
    words += [f"w{i:03d}" for i in range(N_FILLER)]
    return words


def build_tokenizer(directory: Path) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    core = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=BOS, pad_token=BOS, unk_token="[UNK]"
    )
    tokenizer.save_pretrained(directory)


def _config(vocab_size: int):  # type: ignore[no-untyped-def]
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=N_CTX, n_embd=D_MODEL, n_layer=N_LAYERS, n_head=N_HEADS,
        n_inner=4 * D_MODEL, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=0, eos_token_id=0, tie_word_embeddings=True,
    )


@dataclass
class _Heads:
    """Write one head's Q, K, V, O blocks into GPT-2's fused Conv1D weights."""

    state: dict[str, torch.Tensor]

    def _attn(self, layer: int) -> torch.Tensor:
        return self.state[f"transformer.h.{layer}.attn.c_attn.weight"]  # [D, 3D]

    def q(self, layer: int, head: int) -> torch.Tensor:
        return self._attn(layer)[:, head * D_HEAD : (head + 1) * D_HEAD]

    def k(self, layer: int, head: int) -> torch.Tensor:
        return self._attn(layer)[:, D_MODEL + head * D_HEAD : D_MODEL + (head + 1) * D_HEAD]

    def v(self, layer: int, head: int) -> torch.Tensor:
        return self._attn(layer)[:, 2 * D_MODEL + head * D_HEAD : 2 * D_MODEL + (head + 1) * D_HEAD]

    def o(self, layer: int, head: int) -> torch.Tensor:
        return self.state[f"transformer.h.{layer}.attn.c_proj.weight"][head * D_HEAD : (head + 1) * D_HEAD]


def _sharp(strength: float) -> float:
    # GPT-2 divides attention scores by sqrt(d_head); a match of unit vectors scores `strength`.
    return strength * D_HEAD**0.5


def _copy(heads: _Heads, layer: int, head: int, src: slice, dst: slice, matrix: torch.Tensor | None = None) -> None:
    """OV: read the 128-dim block ``src`` and write it (through ``matrix``) into block ``dst``."""
    heads.v(layer, head)[src, :128] = torch.eye(128)
    heads.o(layer, head)[:128, dst] = torch.eye(128) if matrix is None else matrix.T


def _bos_sink(heads: _Heads, layer: int, head: int, strength: float, dim: int = D_HEAD - 1) -> None:
    heads.q(layer, head)[CONST, dim] = _sharp(strength)
    heads.k(layer, head)[BOSFLAG, dim] = 1.0


def _attend_feature(heads: _Heads, layer: int, head: int, feature: int, strength: float, dim: int) -> None:
    heads.q(layer, head)[CONST, dim] = _sharp(strength)
    heads.k(layer, head)[feature, dim] += 1.0


def build_planted_model(directory: str | Path, seed: int = 0) -> Path:
    """Write the planted model (weights, config, tokenizer, ``planted.json``) to ``directory``."""
    from transformers import GPT2LMHeadModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    words = vocabulary()
    index = {w: i for i, w in enumerate(words)}
    gen = torch.Generator().manual_seed(seed)
    model = GPT2LMHeadModel(_config(len(words)))
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}

    # Embeddings: a random unit vector per token in TOK, plus features; one-hot positions.
    wte = state["transformer.wte.weight"]
    tok = torch.randn(len(words), 128, generator=gen)
    wte[:, TOK] = tok / tok.norm(dim=1, keepdim=True)
    wte[:, CONST] = 1.0
    wte[:, NONBOS] = 1.0
    wte[index[BOS], TOK] = 0.0
    wte[index[BOS], NONBOS] = 0.0
    wte[index[BOS], BOSFLAG] = 1.0
    for name in NAMES:
        wte[index[name], NAME] = 1.0
    for row in COUNTRIES:
        for word in _WORD.findall(row[0]):
            wte[index[word], ENT] = 1.0
    for span in RELATION_SPANS.values():
        for word in _WORD.findall(span):
            wte[index[word], REL] = 1.0
    state["transformer.wpe.weight"][:, POS] = torch.eye(N_CTX, 128)

    # Norms: a typical residual vector (norm about 2) passes at about unit scale.
    gain = 2.0 / D_MODEL**0.5
    for key in state:
        if re.search(r"ln_(1|2|f)\.weight$", key):
            state[key].fill_(gain)

    heads = _Heads(state)
    # 0.0 previous-token: position i queries position i-1.
    heads.q(0, 0)[POS, :128] = _sharp(15.0) * torch.diag(torch.ones(127), -1)[:, :128]
    heads.k(0, 0)[POS, :128] = torch.eye(128)
    _copy(heads, 0, 0, TOK, PREV)
    # 0.1 duplicate-token: same token, not the same position; BOS when there is no duplicate.
    heads.q(0, 1)[TOK, :128] = _sharp(15.0) * torch.eye(128)
    heads.k(0, 1)[TOK, :128] = torch.eye(128)
    codes = torch.randn(128, 60, generator=gen)
    codes = codes / codes.norm(dim=1, keepdim=True)
    heads.q(0, 1)[POS, 128:188] = -_sharp(15.0) * codes
    heads.k(0, 1)[POS, 128:188] = codes
    _bos_sink(heads, 0, 1, 6.0)
    _copy(heads, 0, 1, TOK, DUP)
    heads.v(0, 1)[NONBOS, 128] = 1.0
    heads.o(0, 1)[128, DUPFLAG] = 1.0
    # 1.0 induction: K-composition with 0.0 (keys read PREV).
    heads.q(1, 0)[TOK, :128] = _sharp(20.0) * torch.eye(128)
    heads.k(1, 0)[PREV, :128] = torch.eye(128)
    _bos_sink(heads, 1, 0, 6.0)
    _copy(heads, 1, 0, TOK, TOK)
    # 1.1 successor: OV maps each ordinal token to the next member of its set; attends to BOS.
    src, dst = [], []
    for members in ORDINAL_SETS.values():
        for a, b in zip(members, members[1:], strict=False):
            src.append(wte[index[a], TOK])
            dst.append(wte[index[b], TOK])
    successor = torch.linalg.lstsq(torch.stack(src), torch.stack(dst)).solution.T  # dst ~ M @ src
    _bos_sink(heads, 1, 1, 10.0)
    _copy(heads, 1, 1, TOK, TOK, successor)
    # 1.2 S-inhibition: attends to the repeated name; moves its identity from DUP into INHIB.
    _attend_feature(heads, 1, 2, DUPFLAG, 10.0, 0)
    _attend_feature(heads, 1, 2, NAME, 10.0, 0)
    _bos_sink(heads, 1, 2, 5.0)
    _copy(heads, 1, 2, DUP, INHIB)
    # 2.0 / 2.1 name movers: attend to names except the one in INHIB; copy it (2.1: negated).
    for head, sign in ((0, 1.0), (1, -1.0)):
        _attend_feature(heads, 2, head, NAME, 12.0, 0)
        _bos_sink(heads, 2, head, 3.0, dim=1)
        heads.q(2, head)[INHIB, 64:192] = -_sharp(15.0) * torch.eye(128)
        heads.k(2, head)[TOK, 64:192] = torch.eye(128)
        _copy(heads, 2, head, TOK, TOK, sign * torch.eye(128))
    # 2.2 mover (subject tokens) and 2.3 relation (relation words): attend and copy.
    for head, feature in ((2, ENT), (3, REL)):
        _attend_feature(heads, 2, head, feature, 12.0, 0)
        _bos_sink(heads, 2, head, 3.0)
        _copy(heads, 2, head, TOK, TOK)
    # Idle heads: small random weights.
    for layer, head in ((0, 2), (0, 3), (1, 3)):
        for block in (heads.q, heads.k, heads.v):
            block(layer, head).copy_(0.02 * torch.randn(D_MODEL, D_HEAD, generator=gen))
        heads.o(layer, head).copy_(0.02 * torch.randn(D_HEAD, D_MODEL, generator=gen))

    state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state)
    model.save_pretrained(directory)
    build_tokenizer(directory)
    (directory / "planted.json").write_text(json.dumps({"heads": PLANTED_HEADS, "seed": seed}, indent=2))
    return directory


def build_test_models(directory: str | Path, rebuild: bool = True) -> dict[str, Path]:
    """The planted model and its random control under ``directory``, by the names runs store
    them as. With ``rebuild=False`` a model already written there is reused."""
    directory = Path(directory)
    models = {}
    for name, build in (("headdb-planted", build_planted_model), ("headdb-random-control", build_random_model)):
        path = directory / name
        models[name] = path if not rebuild and (path / "config.json").exists() else build(path)
    return models


def build_random_model(directory: str | Path, seed: int = 0) -> Path:
    """The control: same tokenizer and shape, GPT-2's random initialisation, nothing planted."""
    from transformers import GPT2LMHeadModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(_config(len(vocabulary())))
    model.save_pretrained(directory)
    build_tokenizer(directory)
    (directory / "planted.json").write_text(json.dumps({"heads": {}, "seed": seed}, indent=2))
    return directory
