"""Generated datasets: positions point at the right tokens; fingerprints pin the data."""

from __future__ import annotations

import torch

from headdb.detectors.datasets.factual import factual_prompts
from headdb.detectors.datasets.ioi import ioi_prompts
from headdb.detectors.datasets.ordinal import ordinal_tokens
from headdb.detectors.datasets.repeated import repeated_random_tokens
from headdb.detectors.datasets.tokens import TokenizerView

from conftest import shared_path


def _view(contexts, name: str = "zoo-planted") -> TokenizerView:  # type: ignore[no-untyped-def]
    return contexts(name).view


def test_repeated_tokens_targets(contexts) -> None:  # type: ignore[no-untyped-def]
    view = _view(contexts)
    data = repeated_random_tokens(view, 4, 10, 128, seed=1)
    t, i = data.tokens, data.index
    rows = torch.arange(4)[:, None]
    assert (t[:, 0] == view.bos_id).all()
    assert torch.equal(t[rows, i["dup_query"]], t[rows, i["dup_key"]])
    assert torch.equal(t[rows, i["ind_key"]], t[rows, i["dup_key"] + 1])
    assert torch.equal(i["prev_key"], i["prev_query"] - 1) and int(i["prev_key"].min()) == 1
    assert data.fingerprint == repeated_random_tokens(view, 4, 10, 128, seed=1).fingerprint
    assert data.fingerprint != repeated_random_tokens(view, 4, 10, 128, seed=2).fingerprint


def test_repeated_tokens_fit_short_context(contexts) -> None:  # type: ignore[no-untyped-def]
    data = repeated_random_tokens(_view(contexts), 2, 100, 21, seed=0)
    assert data.tokens.shape[1] <= 21


def test_ioi_prompt_positions(contexts) -> None:  # type: ignore[no-untyped-def]
    view = _view(contexts)
    data = ioi_prompts(view, 16, seed=0)
    rows = torch.arange(len(data))
    t, i = data.tokens, data.index
    assert torch.equal(t[rows, i["io"]], i["io_token"])
    assert torch.equal(t[rows, i["s1"]], i["s_token"]) and torch.equal(t[rows, i["s2"]], i["s_token"])
    assert (i["io_token"] != i["s_token"]).all()
    corrupted = i["corrupted_tokens"]
    differs = (corrupted != t).nonzero()
    assert torch.equal(differs[:, 1], i["s2"][differs[:, 0]])  # only S2 is replaced
    assert len(differs) == len(data)
    assert view.tokenizer.convert_ids_to_tokens(int(t[0, i["end"][0]])) == "to"


def test_ordinal_pairs_are_successors(contexts) -> None:  # type: ignore[no-untyped-def]
    view = _view(contexts)
    data = ordinal_tokens(view)
    words = view.tokenizer.convert_ids_to_tokens(data.tokens[:, 0].tolist())
    pairs = {(words[s], words[d]) for s, d in zip(*data.meta["pairs"], strict=True)}
    assert {("Monday", "Tuesday"), ("3", "4"), ("nine", "ten"), ("Y", "Z"), ("November", "December")} <= pairs
    assert ("Sunday", "Monday") not in pairs


def test_factual_prompts_mark_spans(contexts) -> None:  # type: ignore[no-untyped-def]
    view = _view(contexts)
    data = factual_prompts(view)
    relations = view.probes.relations
    assert sum(data.meta["prompts_per_relation"].values()) == len(data)
    tok = view.tokenizer
    for row in (0, len(data) - 1):
        relation = relations[data.meta["relations"][int(data.index["relation"][row])]]
        subject = tok.decode(data.tokens[row][data.index["subject_mask"][row]].tolist()).strip()
        span = tok.decode(data.tokens[row][data.index["relation_mask"][row]].tolist()).strip()
        objects = dict(relation.facts)
        assert subject in objects and span == relation.relation_span
        assert int(data.index["object_token"][row]) == view.first_token(objects[subject])


def test_real_tokenizers_single_tokens() -> None:
    from transformers import AutoTokenizer

    gpt2 = TokenizerView(AutoTokenizer.from_pretrained(str(shared_path("models", "gpt2-tokenizer"))), 50257)
    assert gpt2.single_token("Mary") == 5335  # " Mary"
    assert gpt2.single_token("Zachary") is None  # two tokens in GPT-2
    data = ioi_prompts(gpt2, 32, seed=0)
    assert len(data) == 32 and data.meta["n_names"] >= 45
    stories = TokenizerView(AutoTokenizer.from_pretrained(str(shared_path("models", "stories260K"))), 512)
    assert stories.single_token("Lily") == 317  # sentencepiece: "▁Lily"
    assert stories.single_token("Mary") is None
