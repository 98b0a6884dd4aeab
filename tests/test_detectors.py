"""Detectors against models whose answers are known, and on the real stories260K model."""

from __future__ import annotations

import pytest
import torch
import yaml

from headdb.detectors import REGISTRY
from headdb.detectors.base import HeadTypeScores
from headdb.models.planted import PLANTED_HEADS

from conftest import PAPERS

pytestmark = pytest.mark.slow


def _all_scores(ctx) -> dict[str, HeadTypeScores]:  # type: ignore[no-untyped-def]
    out = {}
    for cls in REGISTRY.values():
        detector = cls()
        if detector.applicable(ctx) is None:
            for result in detector.score(ctx):
                out[result.head_type] = result
    return out


@pytest.fixture(scope="module")
def planted_scores(contexts):  # type: ignore[no-untyped-def]
    return _all_scores(contexts("planted"))


@pytest.mark.parametrize("head_type", sorted(PLANTED_HEADS))
def test_planted_head_ranks_first_and_alone(planted_scores, head_type: str) -> None:  # type: ignore[no-untyped-def]
    result = planted_scores[head_type]
    expected = [tuple(int(x) for x in c.split(".")) for c in PLANTED_HEADS[head_type]]
    assert result.top(len(expected)) == expected
    assert result.labelled() == expected
    (layer, head), = expected
    assert int(result.ranks[layer, head]) == 1


def test_random_control_is_unlabelled(contexts) -> None:  # type: ignore[no-untyped-def]
    scores = _all_scores(contexts("random"))
    assert set(scores) == set(PLANTED_HEADS)  # every detector ran
    assert {t: r.labelled() for t, r in scores.items() if r.labelled()} == {}


def test_induction_components(planted_scores) -> None:  # type: ignore[no-untyped-def]
    induction = planted_scores["induction"]
    assert induction.components["copying"][1, 0] > 0.9  # the planted OV is the identity
    assert induction.components["copying"][2, 1] < -0.9  # the negative name mover writes minus
    assert induction.components["prefix_matching"][1, 0] > 0.9


def test_s_inhibition_effect_is_causal(planted_scores) -> None:  # type: ignore[no-untyped-def]
    result = planted_scores["s-inhibition"]
    effect, se = result.components["effect"], result.components["effect_stderr"]
    assert effect[1, 2] > 0.2 and effect[1, 2] > 10 * se[1, 2]
    assert effect[2].abs().max() == 0  # heads at the movers' layer are not candidates


def test_shared_datasets_share_one_pass(contexts) -> None:  # type: ignore[no-untyped-def]
    from headdb.detectors.context import ModelContext

    ctx = contexts("planted")
    fresh = ModelContext(ctx.bridge)
    calls = []
    original = fresh.forward
    fresh.forward = lambda *a, **k: (calls.append(1), original(*a, **k))[1]  # type: ignore[method-assign]
    for name in ("previous-token", "duplicate-token", "induction"):
        REGISTRY[name]().score(fresh)
    assert len(calls) == 2  # 32 prompts in batches of 16: one pass, shared by all three


def test_metadata_names_catalog_entries() -> None:
    taxonomy = {e["slug"] for e in yaml.safe_load(open(PAPERS.parent / "headdb" / "data" / "taxonomy.yaml"))}
    for cls in REGISTRY.values():
        meta = cls.metadata
        assert set(meta.head_types) <= taxonomy, meta.name
        assert (PAPERS / f"{meta.paper}.yaml").exists(), meta.name
        assert set(meta.label_rules) == set(meta.head_types)


def test_stories260k_all_detectors(contexts) -> None:  # type: ignore[no-untyped-def]
    ctx = contexts("stories260K")
    assert (ctx.n_layers, ctx.n_heads, ctx.n_kv_heads) == (5, 8, 4)
    # grouped-query attention: query heads 2k and 2k+1 read the same value head
    assert torch.equal(ctx.W_V[:, 0], ctx.W_V[:, 1]) and not torch.equal(ctx.W_V[:, 1], ctx.W_V[:, 2])
    scores = _all_scores(ctx)
    assert {"previous-token", "duplicate-token", "induction", "successor", "mover", "relation", "name-mover"} <= set(scores)
    for result in scores.values():
        assert result.scores.shape == (5, 8)
        assert sorted(result.ranks.flatten().tolist()) == list(range(1, 41))
        assert not result.scores.isnan().any()
    for head_type in ("previous-token", "duplicate-token", "induction"):
        attention = scores[head_type].scores
        assert ((attention >= 0) & (attention <= 1)).all()
        assert torch.equal(scores[head_type].labels, attention > 0.5)


def test_gpt_neox_architecture(test_models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """GPT-NeoX/Pythia layout (parallel residual, partial rotary): every detector runs."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    from headdb.detectors import ModelContext

    tokenizer = AutoTokenizer.from_pretrained(str(test_models["random"]))
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=128, rotary_pct=0.25, bos_token_id=0, eos_token_id=0,
    )
    torch.manual_seed(0)
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ctx = ModelContext(TransformerBridge.boot_transformers(str(tmp_path), device="cpu"))
    scores = _all_scores(ctx)
    assert set(scores) == set(PLANTED_HEADS)
    assert all(r.scores.shape == (2, 4) and not r.scores.isnan().any() for r in scores.values())
    assert {t: r.labelled() for t, r in scores.items() if r.labelled()} == {}  # random weights
