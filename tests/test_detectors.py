"""Detectors against models whose answers are known (the zoo's fast subset), on random
controls, and on the real stories260K model."""

from __future__ import annotations

import shutil

import pytest
import torch

from headdb.detectors import REGISTRY, default_suite
from headdb.detectors.base import HeadTypeScores
from headdb.zoo.planted import PLANTED_HEADS
from headdb.zoo.registry import GROUND_TRUTH_FILE

from conftest import PAPERS

pytestmark = pytest.mark.slow
CONTROLS = ("zoo-control-gpt2", "zoo-control-neox", "zoo-control-llama", "zoo-control-planted")


def _all_scores(ctx, names=None) -> dict[str, HeadTypeScores]:  # type: ignore[no-untyped-def]
    out = {}
    for name in names or default_suite():
        detector = REGISTRY[name]()
        if detector.applicable(ctx) is None:
            for result in detector.score(ctx):
                out[result.head_type] = result
    return out


@pytest.fixture(scope="module")
def planted_scores(contexts):  # type: ignore[no-untyped-def]
    return {name: _all_scores(contexts(name)) for name in ("zoo-planted", "zoo-planted-hard")}


@pytest.mark.parametrize("model", ["zoo-planted", "zoo-planted-hard"])
@pytest.mark.parametrize("head_type", sorted(PLANTED_HEADS))
def test_planted_head_ranks_first_and_alone(planted_scores, model: str, head_type: str) -> None:  # type: ignore[no-untyped-def]
    result = planted_scores[model][head_type]
    expected = [tuple(int(x) for x in c.split(".")) for c in PLANTED_HEADS[head_type]]
    assert result.top(len(expected)) == expected
    assert result.labelled() == expected
    (layer, head), = expected
    assert int(result.ranks[layer, head]) == 1
    # every label says why, check by check, each with its source
    evidence = result.evidence(layer, head)
    assert evidence and all(e["holds"] for e in evidence) and all(e["source"] for e in evidence)


def test_no_backup_name_mover_is_planted(planted_scores) -> None:  # type: ignore[no-untyped-def]
    for model in planted_scores.values():
        assert model["backup-name-mover"].labelled() == []


def test_hard_distractors_stay_unlabelled(planted_scores) -> None:  # type: ignore[no-untyped-def]
    hard = planted_scores["zoo-planted-hard"]
    # Partial patterns: a BOS sink takes the rest of the attention, tuned when the model is built
    # until its target gets 0.4 on the planter's own filler-word probes. On the detectors' data
    # (other tokens, longer prompts) the target must still get 0.3-0.6: far above the null
    # (significant after correction) but not a majority, so no label.
    for detector, head_type, component, (layer, head) in [
        ("previous-token", "previous-token", "attention", (0, 2)),
        ("duplicate-token", "duplicate-token", "attention", (0, 3)),
        ("induction", "induction", "prefix_matching", (1, 3)),
        ("mover", "mover", "attention", (3, 3)),
    ]:
        result = hard[head_type]
        assert 0.3 <= float(result.components[component][layer, head]) <= 0.6, (detector, layer, head)
        assert (layer, head) not in result.labelled()
        if detector != "mover":  # the mover's null is a shuffled target, not attention elsewhere
            assert float(result.q_value[layer, head]) < 0.05
    # 3.0 copies names perfectly but attends to nothing but BOS; 3.1 attends like a mover, copies nothing
    assert float(hard["name-mover"].components["copy"][3, 0]) > 0.9
    assert float(hard["name-mover"].components["io_over_s"][3, 1]) > 0.5
    assert not {(3, 0), (3, 1)} & set(hard["name-mover"].labelled())


@pytest.mark.parametrize("model", CONTROLS)
def test_random_controls_are_unlabelled(contexts, model: str) -> None:  # type: ignore[no-untyped-def]
    scores = _all_scores(contexts(model))
    assert {"previous-token", "induction", "successor", "name-mover"} <= set(scores)
    assert {t: r.labelled() for t, r in scores.items() if r.labelled()} == {}


def test_trained_model_labels_are_ground_truth_heads(contexts, zoo_dir) -> None:  # type: ignore[no-untyped-def]
    """On the trained GPT-2 zoo model, every label is a head that patching found (precision).
    Recall is the validation report's to track. The model's copy heads read one word past the
    induction target, so the ground truth leaves them ambiguous and the detector labels none of
    them (the README's "Ground truth and validation" says why; ``test_zoo`` measures it)."""
    from headdb.zoo import read_ground_truth

    roles = read_ground_truth(zoo_dir("zoo-gpt2-induction"))["roles"]
    scores = _all_scores(contexts("zoo-gpt2-induction"), ["previous-token", "induction"])
    prev = [f"{l}.{h}" for l, h in scores["previous-token"].labelled()]
    assert prev and prev == sorted(roles["previous-token"]["positives"])
    induction = {f"{l}.{h}" for l, h in scores["induction"].labelled()}
    assert not induction and not roles["induction"]["positives"]


def test_ground_truth_files_are_never_read(zoo_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same labels with the ground-truth file removed from the model's directory."""
    from transformer_lens.model_bridge import TransformerBridge

    from headdb.detectors import ModelContext
    from headdb.detectors.datasets.probes import for_model

    source = zoo_dir("zoo-planted-hard")
    copy = tmp_path / "model"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(GROUND_TRUTH_FILE, "build.json", "checkpoints"))
    assert not (copy / GROUND_TRUTH_FILE).exists()
    labels = {}
    for path in (source, copy):
        ctx = ModelContext(TransformerBridge.boot_transformers(str(path), device="cpu"), probes=for_model(path))
        labels[path] = {t: r.labelled() for t, r in _all_scores(ctx).items()}
    assert labels[source] == labels[copy] and any(labels[copy].values())


def test_s_inhibition_scan_confirms_the_exact_labels(contexts) -> None:  # type: ignore[no-untyped-def]
    """Attribution scanning plus exact confirmation labels what exact patching of every head does."""
    from headdb.detectors.s_inhibition import SInhibitionDetector

    for model in ("zoo-planted", "zoo-planted-hard"):
        ctx = contexts(model)
        scanned = SInhibitionDetector(SInhibitionDetector.Config(scan=True)).score(ctx)[0]
        exact = SInhibitionDetector(SInhibitionDetector.Config(scan=False)).score(ctx)[0]
        assert scanned.labelled() == exact.labelled() == [(1, 2)]
        confirmed = scanned.components["confirmed_exactly"].bool()
        assert torch.allclose(scanned.scores[confirmed], exact.scores[confirmed])
        # exact patching confirms every candidate; the scan at most its top k (these small models
        # have only 8 heads upstream of their name movers, so here that is all of them)
        assert int(confirmed.sum()) <= SInhibitionDetector.Config().confirm_top_k


def test_successor_variants(contexts) -> None:  # type: ignore[no-untyped-def]
    from headdb.detectors.successor import SuccessorDetector

    ctx = contexts("zoo-planted")
    for embedding in ("mlp0", "block0"):
        result = SuccessorDetector(SuccessorDetector.Config(embedding=embedding)).score(ctx)[0]
        assert result.labelled() == [(1, 1)], embedding
    with pytest.raises(ValueError, match="unknown successor embedding"):
        SuccessorDetector(SuccessorDetector.Config(embedding="nope")).score(ctx)


def test_metadata_names_catalog_entries_and_sources() -> None:
    import yaml

    taxonomy = {e["slug"] for e in yaml.safe_load(open(PAPERS.parent / "headdb" / "data" / "taxonomy.yaml"))}
    for cls in REGISTRY.values():
        meta = cls.metadata
        assert set(meta.head_types) <= taxonomy, meta.name
        assert (PAPERS / f"{meta.paper}.yaml").exists(), meta.name
        assert set(meta.label_rules) == set(meta.head_types)
        assert meta.null and meta.method
        for checks in cls.checks(cls.Config()).values():
            for check in checks:
                # a threshold is headdb's convention or cites where a paper states it
                assert check.source == "headdb convention" or "et al." in check.source, (meta.name, check)
                assert f"{check.threshold:g}" in meta.label_rules[next(iter(meta.label_rules))] or len(meta.head_types) > 1


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
        if result.ci_low is not None:
            assert (result.ci_low <= result.scores + 1e-6).all() and (result.scores <= result.ci_high + 1e-6).all()
    for head_type in ("previous-token", "duplicate-token"):
        attention = scores[head_type].scores
        assert ((attention >= 0) & (attention <= 1)).all()
        assert torch.equal(scores[head_type].labels, (scores[head_type].ci_low > 0.5) & (scores[head_type].q_value < 0.05))
