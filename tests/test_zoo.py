"""The ground-truth zoo: specs, content-hashed builds, ground-truth files, checkpoints, and the
ablation machinery the trained models' roles come from."""

from __future__ import annotations

import json
import random

import pytest
import torch

from headdb.zoo import ZOO, ZooSpec, build, read_ground_truth, selected
from headdb.zoo import language as lang
from headdb.zoo.registry import BUILD_FILE, model_dir
from headdb.zoo.tasks import CONTRASTS, ROLE_TESTS, TRAINING


def test_specs_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown tasks"):
        ZooSpec(name="zoo-x", kind="trained", architecture="gpt2", description="", tasks={"juggling": 1.0}, steps=1)
    with pytest.raises(ValueError, match="needs tasks and steps"):
        ZooSpec(name="zoo-x", kind="trained", architecture="gpt2", description="")
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        ZooSpec(name="zoo-x", kind="control", architecture="llama", description="", n_heads=4, n_kv_heads=3)
    with pytest.raises(KeyError, match="unknown zoo model"):
        selected(["zoo-nonexistent"])


def test_every_architecture_has_a_control_of_the_same_shape() -> None:
    controls = [s for s in ZOO.values() if s.kind == "control"]
    assert {s.architecture for s in controls} >= {"gpt2", "neox", "llama"}
    shape = lambda s: (s.architecture, s.n_layers, s.n_heads, s.n_kv_heads, s.d_model, s.d_mlp, s.n_ctx, s.language)  # noqa: E731
    for control in controls:
        assert control.control_of in ZOO and shape(control) == shape(ZOO[control.control_of]), control.name


def test_fingerprints_ignore_descriptions_but_not_training() -> None:
    spec = ZOO["zoo-gpt2-induction"]
    assert spec.model_copy(update={"description": "other words"}).fingerprint() == spec.fingerprint()
    assert spec.model_copy(update={"steps": spec.steps + 1}).fingerprint() != spec.fingerprint()


def test_fast_subset_fits_the_test_suite() -> None:
    fast = selected(fast=True)
    assert {s.kind for s in fast} == {"trained", "planted", "control"}
    assert sum(s.steps for s in fast) <= 3500  # one small trained model: about two minutes on 2 cores


def test_task_generators_stay_in_the_vocabulary() -> None:
    vocab = set(lang.vocabulary())
    rng = random.Random(0)
    for name, make in TRAINING.items():
        samples = [make(rng) for _ in range(20)]
        assert all(set(s.words) <= vocab and len(s.words) == len(s.scored) for s in samples), name
        assert any(any(s.scored) for s in samples), name
    for name, make in CONTRASTS.items():
        contrast = make(rng)
        assert len(contrast.clean) == len(contrast.corrupted), name
        assert set(contrast.clean) | set(contrast.corrupted) <= vocab, name
        assert {t.contrast for t in ROLE_TESTS if t.contrast == name} <= set(CONTRASTS)
    # the previous-token contrast changes only the word before each tested position
    c = CONTRASTS["copy/previous"](random.Random(3))
    for pos in c.positions["previous_changed"]:
        assert c.clean[pos] == c.corrupted[pos] and c.clean[pos - 1] != c.corrupted[pos - 1]


def test_trained_model_build_ground_truth_and_checkpoints(zoo_dir) -> None:  # type: ignore[no-untyped-def]
    directory = zoo_dir("zoo-gpt2-induction")
    assert directory == model_dir(ZOO["zoo-gpt2-induction"])
    info = json.loads((directory / BUILD_FILE).read_text())
    assert info["fingerprint"] == ZOO["zoo-gpt2-induction"].fingerprint() and info["build_seconds"] > 0
    truth = read_ground_truth(directory)
    assert truth["contrasts"]["copy"]["solved"] and truth["conventions"]["positive_effect"] == 0.05
    roles = truth["roles"]
    # Its copy heads play the induction role by patching; the knockout finds they read elsewhere.
    assert roles["induction"]["source_positions"]["moved_to_ambiguous"] and roles["previous-token"]["positives"]
    for role in roles.values():  # every head is accounted for, once
        heads = role["positives"] + role["negatives"] + role["ambiguous"]
        assert sorted(heads) == sorted(f"{l}.{h}" for l in range(2) for h in range(4))
        assert all(len(t["effects"]) == 8 for t in role["tests"])
    checkpoints = sorted((directory / "checkpoints").iterdir())
    assert len(checkpoints) == ZOO["zoo-gpt2-induction"].checkpoints
    assert all((c / "config.json").exists() and (c / "headdb_probes.json").exists() for c in checkpoints)
    assert build(ZOO["zoo-gpt2-induction"]) == directory  # cached: no rebuild


def test_planted_ground_truth_covers_every_detector_type(zoo_dir) -> None:  # type: ignore[no-untyped-def]
    roles = read_ground_truth(zoo_dir("zoo-planted-hard"))["roles"]
    assert roles["previous-token"]["positives"] == ["0.0"]
    assert "0.2" in roles["previous-token"]["negatives"]  # the partial distractor
    assert roles["backup-name-mover"]["positives"] == []


def test_ablation_reads_each_heads_output(zoo_dir) -> None:  # type: ignore[no-untyped-def]
    """Per-head outputs (z times its W_O block) add up to the attention layer's output."""
    from transformers import AutoModelForCausalLM

    from headdb.zoo import ablation

    model = AutoModelForCausalLM.from_pretrained(zoo_dir("zoo-gpt2-induction"))
    lay = ablation.layout(model)
    ids = torch.randint(1, 50, (2, 12))
    run = ablation.run(model, lay, ids)
    summed = ablation.head_outputs(lay, run, 1).sum(2) + lay.out_proj[1].bias
    captured = {}
    handle = lay.out_proj[1].register_forward_hook(lambda m, a, out: captured.setdefault("out", out))
    model(ids)
    handle.remove()
    assert torch.allclose(summed, captured["out"], atol=1e-5)
    logits = ablation.logits_from_resid(lay, run.final_resid)
    assert torch.allclose(logits, run.logits, atol=1e-4)


@pytest.mark.parametrize("name", ["zoo-control-gpt2", "zoo-control-neox", "zoo-control-llama"])
def test_attention_knockout_blocks_exactly_the_edges_asked(zoo_dir, name: str) -> None:  # type: ignore[no-untyped-def]
    """The knockout's own attention function reproduces each architecture's forward (rotary,
    parallel attention, grouped-query); blocking one head's edges changes only later positions,
    and blocking every earlier key but BOS leaves a head reading BOS alone."""
    from transformers import AutoModelForCausalLM

    from headdb.zoo import ablation

    model = AutoModelForCausalLM.from_pretrained(zoo_dir(name), attn_implementation="eager").eval()
    ids = torch.randint(1, 50, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model(ids, output_attentions=True)
    torch.testing.assert_close(ablation.knockout_logits(model, ids, {}), plain.logits, atol=1e-4, rtol=1e-4)
    blocked = torch.zeros(2, 10, 10, dtype=torch.bool)
    blocked[:, 6, 1:6] = True  # query 6 keeps BOS and itself
    knocked = ablation.knockout_logits(model, ids, {(0, 1): blocked})
    torch.testing.assert_close(knocked[:, :6], plain.logits[:, :6], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(knocked[:, 6], plain.logits[:, 6], atol=1e-4)
    seen = {}

    def keep(module, args, kwargs, output):  # type: ignore[no-untyped-def]
        seen["weights"] = output[1]

    attention = next(m for m in model.modules() if type(m).__name__.endswith("Attention") and getattr(m, "layer_idx", None) == 0)
    handle = attention.register_forward_hook(keep, with_kwargs=True)
    ablation.knockout_logits(model, ids, {(0, 1): blocked})
    handle.remove()
    row = seen["weights"][:, 1, 6]
    assert torch.all(row[:, 1:6] == 0) and torch.allclose(row[:, 0] + row[:, 6], torch.ones(2))


def test_copy_heads_that_read_one_past_the_target_are_not_induction_positives(zoo_dir) -> None:  # type: ignore[no-untyped-def]
    """zoo-gpt2-induction's copy heads matter for copying (patching) but knocking out their edges
    to the induction target changes nothing, while the edges one position on carry the copy: the
    ground truth records this and leaves them ambiguous, not induction heads."""
    roles = read_ground_truth(zoo_dir("zoo-gpt2-induction"))["roles"]["induction"]
    source = roles["source_positions"]
    assert source["moved_to_ambiguous"] and set(source["moved_to_ambiguous"]) <= set(roles["ambiguous"])
    for head in source["moved_to_ambiguous"]:
        assert head not in roles["positives"]
        assert abs(source["at_source"][head]) < 0.02 and source["one_past_source"][head] > 0.05


def test_backup_round_finds_heads_that_stronger_ones_make_redundant() -> None:
    """With the positives patched, a head that then removes >= 5% of the gap is a positive; one
    that removes 2-5% is ambiguous rather than a negative; the rest stay negatives."""
    from headdb.zoo.groundtruth import ContrastResult, assign_roles
    from headdb.zoo.tasks import RoleTest

    test = RoleTest("induction", "copy", "query", "no-attention")
    single = torch.tensor([[0.30, 0.01, 0.0, 0.0]])
    result = ContrastResult(0.0, -1.0, {("query", "no-attention"): single}, {("query", "no-attention"): {}})
    asked: list[list[tuple[int, int]]] = []

    def backup(t: RoleTest, positives: list[tuple[int, int]]) -> torch.Tensor:
        asked.append(positives)
        return torch.tensor([[0.0, 0.25, 0.03, 0.001]])

    roles = assign_roles({"copy": result}, [test], 1, 4, backup)["induction"]
    assert asked == [[(0, 0)]]
    assert roles["positives"] == ["0.0", "0.1"] and roles["ambiguous"] == ["0.2"] and roles["negatives"] == ["0.3"]
    assert roles["backups"] == [{"head": "0.1", "contrast": "copy", "effect_with_positives_patched": 0.25}]
    assert roles["tests"][0]["effects_with_positives_patched"]["0.1"] == 0.25
    without = assign_roles({"copy": result}, [test], 1, 4)["induction"]
    assert without["positives"] == ["0.0"] and without["backups"] == []


def test_trained_copy_heads_attend_one_past_the_induction_target(zoo_dir) -> None:  # type: ignore[no-untyped-def]
    """What the ground truth's knockout finds, seen in the attention pattern: zoo-gpt2-induction's
    copy heads attend to the word *after* the one to copy, not to it (Olsson et al.'s prefix
    matching), so they are not induction heads and the induction detector rightly ignores them."""
    from transformers import AutoModelForCausalLM

    directory = zoo_dir("zoo-gpt2-induction")
    positives = read_ground_truth(directory)["roles"]["induction"]["source_positions"]["moved_to_ambiguous"]  # type: ignore[index]
    assert positives
    model = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
    index = {w: i for i, w in enumerate(lang.vocabulary())}
    rng = random.Random(0)
    at_target, one_past = torch.zeros(model.config.n_layer, model.config.n_head), torch.zeros(model.config.n_layer, model.config.n_head)
    n = 0
    with torch.no_grad():
        for _ in range(32):
            c = CONTRASTS["copy"](rng)
            attention = model(torch.tensor([[index[w] for w in c.clean]]), output_attentions=True).attentions
            for q, k in zip(c.positions["query"], c.positions["key_side"], strict=True):
                for layer, a in enumerate(attention):
                    at_target[layer] += a[0, :, q, k]
                    one_past[layer] += a[0, :, q, k + 1]
                n += 1
    for coord in positives:
        layer, head = map(int, coord.split("."))
        assert one_past[layer, head] / n > 0.8 and at_target[layer, head] / n < 0.05, coord
