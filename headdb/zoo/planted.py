"""Zoo models with known answers: GPT-2-architecture models whose weights are set by hand.

The planted model (zoo-planted) is a 3-layer, 4-head GPT-2 over a word-level vocabulary in which,
by construction:

    0.0 previous-token      Q/K match one-hot positions i and i-1; OV copies the token into PREV
    0.1 duplicate-token     Q/K match token identity, minus a same-position penalty, BOS as sink;
                            OV copies the token into DUP and sets the DUPFLAG feature
    1.0 induction           Q reads the token, K reads PREV (K-composition with 0.0); OV copies
    1.1 successor           OV maps each ordinal token's embedding to its successor's
    1.2 S-inhibition        attends to the repeated name (DUPFLAG + NAME); OV moves DUP to INHIB
    2.0 name mover          attends to names, minus the name held in INHIB; OV copies the name
    2.1 negative name mover same attention as 2.0; OV writes minus half the name
    2.2 mover               attends to the subject (country) tokens; OV copies them and
                            writes the subject's attributes (raising the object)
    2.3 relation            attends to the relation words; OV copies them and writes every
                            answer of the relation (the object is the one answer both
                            2.2 and 2.3 raise)
    0.2, 0.3, 1.3           idle: small random weights

The hard planted model (zoo-planted-hard) has the same nine heads in 4 layers, among distractors
built to fool a careless detector, and random non-zero MLPs:

    0.2 partial previous-token  0.4 of its attention on i-1, the rest on BOS
    0.3 partial duplicate-token 0.4 on the earlier occurrence
    1.3 partial induction       0.4 on the induction target, the rest on BOS; OV copies
    3.0 copies without attending   OV copies names (high copy score); attends to BOS only
    3.1 attends without copying    the name movers' attention; OV writes nothing useful
    3.2 attention sink          almost all attention on BOS; OV copies
    3.3 partial mover           0.4 on the subject; OV copies the subject only

A partial head's 0.4 is measured, not only designed: after every head and MLP is set, each BOS
sink is tuned by bisection until the head's mean attention on its target, on probes of filler
words, is 0.4 (``_Planter.tune_partials``).

The residual stream (768 dims) is split into orthogonal blocks: TOK (token identity, random
unit vectors), PREV, DUP, INHIB (what heads write), POS (one-hot positions) and single-dimension
features. LayerNorm gains are set so a typical input passes through at about unit scale.
Each builder returns its ground truth: for every head type, the planted heads are the positives
and every other head is a negative (distractors included).
"""

from __future__ import annotations

import math
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

D_MODEL, N_HEADS, N_CTX = 768, 4, 128
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


def _config(vocab_size: int, n_layers: int = 3):  # type: ignore[no-untyped-def]
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=N_CTX, n_embd=D_MODEL, n_layer=n_layers, n_head=N_HEADS,
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


def _partial(fraction: float) -> float:
    """How much stronger a BOS sink must be than a target match for the target to get
    ``fraction`` of the attention, if the two dominated the softmax at equal scale. LayerNorm
    scales BOS (a shorter vector) up, so this is only the starting guess that
    ``_Planter.tune_partials`` corrects by measurement."""
    return math.log((1.0 - fraction) / fraction)


class _Reached(Exception):
    """Ends a forward pass once the layer being measured has run."""


@dataclass(frozen=True)
class _Probe:
    """Where a partial head's target attention is measured: token rows [n, t] and, per row, the
    query positions and the target key positions (same shape [n, m])."""

    tokens: torch.Tensor
    query: torch.Tensor
    key: torch.Tensor


class _Planter:
    """Sets the weights of one planted model: embeddings, norms, and head by head."""

    def __init__(self, n_layers: int, seed: int) -> None:
        from transformers import GPT2LMHeadModel

        self.words = vocabulary()
        self.index = {w: i for i, w in enumerate(self.words)}
        self.gen = torch.Generator().manual_seed(seed)
        self.n_layers = n_layers
        self.model = GPT2LMHeadModel(_config(len(self.words), n_layers))
        self.state = {k: torch.zeros_like(v) for k, v in self.model.state_dict().items()}
        self.heads = _Heads(self.state)
        self.partials: list[tuple[int, int, str, float]] = []  # (layer, head, target, fraction)
        self._embeddings()

    def _embeddings(self) -> None:
        # A random unit vector per token in TOK, plus features; one-hot positions.
        wte = self.state["transformer.wte.weight"]
        tok = torch.randn(len(self.words), 128, generator=self.gen)
        wte[:, TOK] = tok / tok.norm(dim=1, keepdim=True)
        wte[:, CONST] = 1.0
        wte[:, NONBOS] = 1.0
        bos = self.index[BOS]
        wte[bos, TOK] = 0.0
        wte[bos, NONBOS] = 0.0
        wte[bos, BOSFLAG] = 1.0
        for name in NAMES:
            wte[self.index[name], NAME] = 1.0
        for row in COUNTRIES:
            for word in _WORD.findall(row[0]):
                wte[self.index[word], ENT] = 1.0
        for span in RELATION_SPANS.values():
            for word in _WORD.findall(span):
                wte[self.index[word], REL] = 1.0
        self.state["transformer.wpe.weight"][:, POS] = torch.eye(N_CTX, 128)
        # Norms: a typical residual vector (norm about 2) passes at about unit scale.
        gain = 2.0 / D_MODEL**0.5
        for key in self.state:
            if re.search(r"ln_(1|2|f)\.weight$", key):
                self.state[key].fill_(gain)

    # -- heads ------------------------------------------------------------------------------

    def _sink(self, layer: int, head: int, target: str, fraction: float | None, match: float,
              full: float | None = None) -> None:
        """The head's BOS sink: of strength ``full`` (none if None) for a whole pattern; for a
        partial one, ``_partial``'s first guess against a target match of ``match``, recorded for
        ``tune_partials`` to correct."""
        if fraction is None:
            if full is not None:
                _bos_sink(self.heads, layer, head, full)
            return
        _bos_sink(self.heads, layer, head, match + _partial(fraction))
        self.partials.append((layer, head, target, fraction))

    def previous_token(self, layer: int, head: int, fraction: float | None = None) -> None:
        """Position i queries position i-1; OV copies the token into PREV. With ``fraction``, a
        BOS sink takes the rest of the attention."""
        self.heads.q(layer, head)[POS, :128] = _sharp(15.0) * torch.diag(torch.ones(127), -1)[:, :128]
        self.heads.k(layer, head)[POS, :128] = torch.eye(128)
        self._sink(layer, head, "previous-token", fraction, match=15.0)
        _copy(self.heads, layer, head, TOK, PREV)

    def duplicate_token(self, layer: int, head: int, fraction: float | None = None) -> None:
        """Same token, not the same position; BOS when there is no duplicate. OV copies the token
        into DUP and sets DUPFLAG."""
        self.heads.q(layer, head)[TOK, :128] = _sharp(15.0) * torch.eye(128)
        self.heads.k(layer, head)[TOK, :128] = torch.eye(128)
        codes = torch.randn(128, 60, generator=self.gen)
        codes = codes / codes.norm(dim=1, keepdim=True)
        self.heads.q(layer, head)[POS, 128:188] = -_sharp(15.0) * codes
        self.heads.k(layer, head)[POS, 128:188] = codes
        self._sink(layer, head, "duplicate-token", fraction, match=15.0, full=6.0)
        _copy(self.heads, layer, head, TOK, DUP)
        self.heads.v(layer, head)[NONBOS, 128] = 1.0
        self.heads.o(layer, head)[128, DUPFLAG] = 1.0

    def induction(self, layer: int, head: int, fraction: float | None = None) -> None:
        """Q reads the token, K reads PREV (K-composition with a previous-token head); OV copies."""
        self.heads.q(layer, head)[TOK, :128] = _sharp(20.0) * torch.eye(128)
        self.heads.k(layer, head)[PREV, :128] = torch.eye(128)
        self._sink(layer, head, "induction", fraction, match=20.0, full=6.0)
        _copy(self.heads, layer, head, TOK, TOK)

    def successor(self, layer: int, head: int) -> None:
        """OV maps each ordinal token to the next member of its set; attends to BOS."""
        wte = self.state["transformer.wte.weight"]
        src, dst = [], []
        for members in ORDINAL_SETS.values():
            for a, b in zip(members, members[1:], strict=False):
                src.append(wte[self.index[a], TOK])
                dst.append(wte[self.index[b], TOK])
        successor = torch.linalg.lstsq(torch.stack(src), torch.stack(dst)).solution.T  # dst ~ M @ src
        _bos_sink(self.heads, layer, head, 10.0)
        _copy(self.heads, layer, head, TOK, TOK, successor)

    def s_inhibition(self, layer: int, head: int) -> None:
        """Attends to the repeated name (DUPFLAG + NAME); OV moves its identity from DUP to INHIB."""
        _attend_feature(self.heads, layer, head, DUPFLAG, 10.0, 0)
        _attend_feature(self.heads, layer, head, NAME, 10.0, 0)
        _bos_sink(self.heads, layer, head, 5.0)
        _copy(self.heads, layer, head, DUP, INHIB)

    def name_mover(self, layer: int, head: int, sign: float = 1.0, copies: bool = True) -> None:
        """Attends to names except the one held in INHIB; OV copies the name (sign -1: writes minus
        the name; ``copies`` False: OV writes into an unused block, so attention alone)."""
        _attend_feature(self.heads, layer, head, NAME, 12.0, 0)
        _bos_sink(self.heads, layer, head, 3.0, dim=1)
        self.heads.q(layer, head)[INHIB, 64:192] = -_sharp(15.0) * torch.eye(128)
        self.heads.k(layer, head)[TOK, 64:192] = torch.eye(128)
        if copies:
            _copy(self.heads, layer, head, TOK, TOK, sign * torch.eye(128))
        else:
            _copy(self.heads, layer, head, TOK, PREV)  # nothing downstream reads PREV at the end

    def attends_to(self, layer: int, head: int, feature: int, fraction: float | None = None) -> None:
        """Attends to tokens with ``feature`` (ENT: the subject) and copies them."""
        _attend_feature(self.heads, layer, head, feature, 12.0, 0)
        self._sink(layer, head, "subject", fraction, match=12.0, full=3.0)
        _copy(self.heads, layer, head, TOK, TOK)

    def mover(self, layer: int, head: int) -> None:
        """Attends to the subject (ENT) tokens; OV copies them and also writes the subject's
        attributes (its capital, language, continent and currency), the behaviour Knowledge
        Circuits ascribes to mover heads: subject information moved to the last position, where
        it raises the object."""
        _attend_feature(self.heads, layer, head, ENT, 12.0, 0)
        _bos_sink(self.heads, layer, head, 3.0)
        raises: dict[str, list[str]] = {}
        for country, *attributes in COUNTRIES:
            for word in _WORD.findall(country):
                raises.setdefault(word, []).extend(attributes)
        _copy(self.heads, layer, head, TOK, TOK, self._copy_and_raise(raises))

    def relation(self, layer: int, head: int) -> None:
        """Attends to the relation words (REL); OV copies them and also writes every answer of
        the relation (every capital for "capital city"): the relation information that, added to
        the mover's subject attributes, makes the object the one answer both raise."""
        _attend_feature(self.heads, layer, head, REL, 12.0, 0)
        _bos_sink(self.heads, layer, head, 3.0)
        column = {"capital": 1, "language": 2, "continent": 3, "currency": 4}
        raises: dict[str, list[str]] = {}
        for relation, span in RELATION_SPANS.items():
            answers = sorted({row[column[relation]] for row in COUNTRIES})
            for word in _WORD.findall(span):
                raises.setdefault(word, []).extend(answers)
        _copy(self.heads, layer, head, TOK, TOK, self._copy_and_raise(raises))

    def _copy_and_raise(self, raises: dict[str, list[str]]) -> torch.Tensor:
        """A TOK -> TOK map sending each key word's vector to itself plus the sum of the vectors
        of the first words of its answers (an answer is one token), exactly: the key words are
        fewer than the 128 dimensions, so their random vectors are independent and the least-
        squares solution fits them all. Any other word goes to itself plus the image of its
        projection onto the key words' span (the head mostly attends to key words anyway)."""
        tok = self.state["transformer.wte.weight"][:, TOK]
        words = sorted(raises)
        keys = tok[[self.index[w] for w in words]].T  # [128, key words]
        raised = torch.stack([sum(tok[self.index[_WORD.findall(a)[0]]] for a in raises[w]) for w in words]).T
        return torch.eye(128) + raised @ torch.linalg.pinv(keys)

    def sink(self, layer: int, head: int) -> None:
        """All attention on BOS; OV copies (what it copies is BOS's nothing)."""
        _bos_sink(self.heads, layer, head, 20.0)
        _copy(self.heads, layer, head, TOK, TOK)

    def idle(self, layer: int, head: int) -> None:
        for block in (self.heads.q, self.heads.k, self.heads.v):
            block(layer, head).copy_(0.02 * torch.randn(D_MODEL, D_HEAD, generator=self.gen))
        self.heads.o(layer, head).copy_(0.02 * torch.randn(D_HEAD, D_MODEL, generator=self.gen))

    def random_mlps(self, std: float) -> None:
        for layer in range(self.n_layers):
            for name in ("c_fc", "c_proj"):
                w = self.state[f"transformer.h.{layer}.mlp.{name}.weight"]
                w.copy_(std * torch.randn(w.shape, generator=self.gen))

    def tune_partials(self) -> None:
        """Set each partial head's BOS-sink strength so that its measured mean attention on its
        target is the fraction asked, by bisection (the attention falls as the sink grows), in
        layer order so every head is tuned on the final inputs from the layers below. Call it
        after every head and MLP is set."""
        self.model.load_state_dict({**self.state, "lm_head.weight": self.state["transformer.wte.weight"]})
        self.model.eval()
        self.model.set_attn_implementation("eager")  # the fused kernels return no attention pattern
        for layer, head, target, fraction in sorted(self.partials):
            probe = self._probe(target)
            low, high = 0.0, 60.0  # sink strengths: the target gets nearly all, then nearly none
            most = self._target_attention(layer, head, low, probe)
            if most <= fraction:
                raise RuntimeError(f"planted head {layer}.{head} puts at most {most:.2f} on its {target} "
                                   f"target without a sink; cannot tune it to {fraction}")
            for _ in range(16):  # to 60 / 2**16 in sink strength
                middle = (low + high) / 2
                if self._target_attention(layer, head, middle, probe) > fraction:
                    low = middle
                else:
                    high = middle
            self._target_attention(layer, head, (low + high) / 2, probe)  # leaves the sink there

    def _target_attention(self, layer: int, head: int, sink: float, probe: _Probe) -> float:
        self.heads.q(layer, head)[CONST, D_HEAD - 1] = _sharp(sink)
        key = f"transformer.h.{layer}.attn.c_attn.weight"
        self.model.get_parameter(key).data.copy_(self.state[key])
        seen: list[torch.Tensor] = []

        def stop_here(module: torch.nn.Module, args: object, output: tuple[torch.Tensor, torch.Tensor]) -> None:
            seen.append(output[1][:, head])
            raise _Reached  # the layers above cannot change this head's pattern

        handle = self.model.transformer.h[layer].attn.register_forward_hook(stop_here)
        try:
            with torch.no_grad():
                self.model(probe.tokens, output_attentions=True)
        except _Reached:
            pass
        finally:
            handle.remove()
        rows = torch.arange(len(probe.tokens))[:, None]
        return float(seen[0][rows, probe.query, probe.key].mean())

    def _probe(self, target: str) -> _Probe:
        """Prompts of the planted model's filler words (their own generator, so tuning does not
        move any other weight): for the repeated-token patterns BOS + 24 fillers repeated once;
        for the subject, BOS + fillers with one country word, read from the last position."""
        gen = torch.Generator().manual_seed(1234)
        fillers = torch.tensor([self.index[f"w{i:03d}"] for i in range(N_FILLER)])
        bos, n, half = self.index[BOS], 8, 24
        if target == "subject":
            countries = sorted({w for row in COUNTRIES for w in _WORD.findall(row[0])})
            rows, keys = [], []
            for i in range(n):
                row = fillers[torch.randperm(N_FILLER, generator=gen)[:12]]
                at = 3 + i % 6
                row[at] = self.index[countries[i % len(countries)]]
                rows.append(torch.cat([torch.tensor([bos]), row]))
                keys.append(at + 1)
            tokens = torch.stack(rows)
            return _Probe(tokens, torch.full((n, 1), tokens.shape[1] - 1), torch.tensor(keys)[:, None])
        first = torch.stack([fillers[torch.randperm(N_FILLER, generator=gen)[:half]] for _ in range(n)])
        tokens = torch.cat([torch.full((n, 1), bos), first, first], dim=1)
        second = torch.arange(1 + half, 1 + 2 * half)
        if target == "previous-token":
            query = torch.arange(2, 1 + 2 * half)
            return _Probe(tokens, query.expand(n, -1), (query - 1).expand(n, -1))
        shift = {"duplicate-token": 0, "induction": 1}[target]
        return _Probe(tokens, second.expand(n, -1), (second - half + shift).expand(n, -1))

    def save(self, directory: Path) -> None:
        self.state["lm_head.weight"] = self.state["transformer.wte.weight"]
        self.model.load_state_dict(self.state)
        self.model.save_pretrained(directory)
        build_tokenizer(directory)


def _roles(planted: dict[str, list[str]], n_layers: int) -> dict[str, dict[str, list[str]]]:
    """Ground truth by construction: the planted heads, and every other head as a negative (no
    backup name mover is planted: knocking out 2.0 leaves nothing to take over)."""
    everyone = [f"{l}.{h}" for l in range(n_layers) for h in range(N_HEADS)]
    return {
        t: {"positives": heads, "negatives": [c for c in everyone if c not in heads], "ambiguous": []}
        for t, heads in {**planted, "backup-name-mover": []}.items()
    }


def build_planted_model(directory: str | Path, seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Write zoo-planted to ``directory``; returns its ground truth (see the module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    p = _Planter(3, seed)
    p.previous_token(0, 0)
    p.duplicate_token(0, 1)
    p.induction(1, 0)
    p.successor(1, 1)
    p.s_inhibition(1, 2)
    p.name_mover(2, 0)
    p.name_mover(2, 1, sign=-0.5)  # weaker than 2.0, as in GPT-2, so the model prefers IO
    p.mover(2, 2)
    p.relation(2, 3)
    for layer, head in ((0, 2), (0, 3), (1, 3)):
        p.idle(layer, head)
    p.save(directory)
    return _roles(PLANTED_HEADS, 3)


HARD_DISTRACTION = 0.4  # attention the partial distractors put on their target


def build_hard_model(directory: str | Path, seed: int = 0) -> dict[str, dict[str, list[str]]]:
    """Write zoo-planted-hard to ``directory``; returns its ground truth."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    p = _Planter(4, seed)
    p.previous_token(0, 0)
    p.duplicate_token(0, 1)
    p.previous_token(0, 2, fraction=HARD_DISTRACTION)
    # In layer 0 the token block is clean; by layer 3 the induction heads have written the next
    # token into it, and a token match there finds the query's own position as well.
    p.duplicate_token(0, 3, fraction=HARD_DISTRACTION)
    p.induction(1, 0)
    p.successor(1, 1)
    p.s_inhibition(1, 2)
    p.induction(1, 3, fraction=HARD_DISTRACTION)
    p.name_mover(2, 0)
    p.name_mover(2, 1, sign=-0.5)  # weaker than 2.0, as in GPT-2, so the model prefers IO
    p.mover(2, 2)
    p.relation(2, 3)
    p.sink(3, 0)
    _copy(p.heads, 3, 0, TOK, TOK)  # copies names perfectly, but only ever reads BOS
    p.name_mover(3, 1, copies=False)
    p.sink(3, 2)
    p.attends_to(3, 3, ENT, fraction=HARD_DISTRACTION)
    p.random_mlps(0.01)
    p.tune_partials()
    p.save(directory)
    return _roles(PLANTED_HEADS, 4)


def build_random_model(directory: str | Path, seed: int = 0) -> Path:
    """A control: zoo-planted's tokenizer and shape, GPT-2's random initialisation."""
    from transformers import GPT2LMHeadModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(_config(len(vocabulary())))
    model.save_pretrained(directory)
    build_tokenizer(directory)
    return directory
