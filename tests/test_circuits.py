"""Circuit discovery (EAP, EAP-IG), storage, queries and the circuit-defined detectors, on models
whose circuits are known: the planted IOI path and the zoo's trained lookup model."""

from __future__ import annotations

import pytest
import torch

from headdb import HeadDB
from headdb.circuits.discover import CircuitConfig, discover
from headdb.circuits.tasks import build_task
from headdb.cli import main
from headdb.detectors.datasets import DatasetUnavailable
from headdb.jobs.loading import load_model
from headdb.jobs.runner import run_detectors

pytestmark = pytest.mark.slow
PLANTED_IOI = {"0.1", "1.2", "2.0", "2.1"}  # duplicate-token -> S-inhibition -> (negative) name movers


@pytest.fixture(scope="module")
def planted_ioi(contexts):  # type: ignore[no-untyped-def]
    ctx = contexts("zoo-planted")
    return ctx, discover(ctx, build_task(ctx.view, "ioi", 32, 0), CircuitConfig())


def test_planted_ioi_path_is_recovered_at_the_smallest_faithful_size(planted_ioi) -> None:  # type: ignore[no-untyped-def]
    _, result = planted_ioi
    edges = {(s, r) for s, r, _, inside in result.edges() if inside}
    # the planted path: the duplicate-token head feeds S-inhibition's value, which feeds the name
    # mover's query, which writes the answer
    for edge in [("input", "a0.h1<q>"), ("a0.h1", "a1.h2<v>"), ("a1.h2", "a2.h0<q>"), ("a2.h0", "logits")]:
        assert edge in edges, edge
    assert {f"{l}.{h}" for l, h in result.heads()} == PLANTED_IOI
    head_to_head = {(s, r.split("<")[0]) for s, r in edges if s.startswith("a") and r.startswith("a")}
    assert head_to_head <= {("a0.h1", "a1.h2"), ("a1.h2", "a2.h0"), ("a1.h2", "a2.h1")}
    assert result.faithfulness >= 0.8
    smaller = [f for n, f in result.curve[:-1]]
    assert all(f < 0.8 for f in smaller)  # no smaller circuit was faithful


def test_eap_also_recovers_the_planted_path(planted_ioi) -> None:  # type: ignore[no-untyped-def]
    ctx, ig = planted_ioi
    eap = discover(ctx, ig.task, CircuitConfig(method="eap"))
    edges = {(s, r) for s, r, _, inside in eap.edges() if inside}
    for edge in [("a0.h1", "a1.h2<v>"), ("a1.h2", "a2.h0<q>"), ("a2.h0", "logits")]:
        assert edge in edges, edge
    assert eap.faithfulness >= 0.8
    assert torch.equal(ig.graph.mask(), eap.graph.mask())


def test_trained_lookup_circuit_holds_the_ground_truth_movers(contexts, zoo_dir) -> None:  # type: ignore[no-untyped-def]
    from headdb.zoo import read_ground_truth

    ctx = contexts("zoo-llama-lookup")
    truth = set(read_ground_truth(zoo_dir("zoo-llama-lookup"))["roles"]["mover"]["positives"])
    relation = sorted(ctx.view.probes.relations)[0]
    result = discover(ctx, build_task(ctx.view, f"factual:{relation}", 32, 0), CircuitConfig(ablation="mean"))
    heads = {f"{l}.{h}" for l, h in result.heads()}
    assert truth and truth <= heads
    assert result.faithfulness >= 0.8


def test_tasks_need_a_fitting_tokenizer(contexts) -> None:  # type: ignore[no-untyped-def]
    ctx = contexts("zoo-planted")
    with pytest.raises(DatasetUnavailable, match="two-digit"):
        build_task(ctx.view, "greater-than", 16, 0)
    with pytest.raises(DatasetUnavailable, match="unknown relation"):
        build_task(ctx.view, "factual:nonsense", 16, 0)
    with pytest.raises(DatasetUnavailable, match="unknown circuit task"):
        build_task(ctx.view, "sorting", 16, 0)


def test_circuit_command_stores_and_queries(catalog_db: HeadDB, zoo_dir, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = str(zoo_dir("zoo-planted"))
    args = ["--url", catalog_db.url, "circuit", path, "--name", "zoo-planted", "--task", "ioi", "--prompts", "16"]
    assert main(args) == 0
    assert "stored" in capsys.readouterr().out
    assert main(args) == 0 and "unchanged" in capsys.readouterr().out
    (circuit,) = catalog_db.circuits("zoo-planted")
    assert circuit.task == "ioi" and set(circuit.heads) == PLANTED_IOI and circuit.faithfulness >= 0.8
    assert len(circuit.edges) == circuit.n_edges_total == 262
    graph = circuit.graph(as_networkx=True)
    assert graph.has_edge("a1.h2", "a2.h0") and graph["a1.h2"]["a2.h0"]["receivers"] == ["a2.h0<q>"]
    assert set(circuit.graph()["nodes"]) >= {"input", "logits", "a0.h1"}
    assert main(["--url", catalog_db.url, "circuit", path, "--name", "zoo-planted", "--task", "greater-than"]) == 1
    assert "cannot be built" in capsys.readouterr().err


def test_circuit_detectors_label_and_link_their_circuit(catalog_db: HeadDB, zoo_dir) -> None:  # type: ignore[no-untyped-def]
    loaded = load_model(str(zoo_dir("zoo-planted")), name="zoo-planted")
    (outcome,) = run_detectors(catalog_db, loaded, ["circuit-ioi"])
    assert outcome.labels == {"name-mover": ["2.0"], "s-inhibition": ["1.2"]}
    labels = catalog_db.labels("zoo-planted")
    (circuit,) = catalog_db.circuits("zoo-planted")
    assert {l.circuit_id for l in labels} == {circuit.id}
    assert all(l.evidence for l in labels)


@pytest.mark.parametrize("model", ["zoo-planted", "zoo-control-llama"])
def test_metric_at_the_answer_position_equals_the_full_pass(contexts, model: str) -> None:  # type: ignore[no-untyped-def]
    from headdb.circuits.attribution import metric_at_answer

    ctx = contexts(model)
    task = build_task(ctx.view, "ioi", 8, 0)
    rows = slice(0, len(task))
    full = task.metric(ctx.logits(task.clean), rows)
    with torch.inference_mode():
        fast = metric_at_answer(ctx, task.clean, task, rows, [])
    assert torch.allclose(full, fast.cpu(), atol=1e-4), (full, fast)
