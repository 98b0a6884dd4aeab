"""The circuit graph (edge naming, connectivity, selection, pruning): pure code."""

from __future__ import annotations

import torch

from headdb.circuits import graph as g


def test_gpt2_small_has_eap_igs_edge_count() -> None:
    graph = g.Graph(12, 12)
    assert len(graph.senders) == 1 + 12 * 13 and len(graph.receivers) == 12 * 37 + 1
    # 32,491 is the edge count the EAP-IG library reports for GPT-2 small.
    assert graph.n_edges == 32491
    assert "input->a0.h0<q>" in graph.edge_names() and "a0.h0->a0.h1<q>" not in graph.edge_names()


def test_connectivity_follows_the_architecture() -> None:
    sequential, parallel = g.Graph(2, 2), g.Graph(2, 2, parallel_attn_mlp=True)
    assert sequential.connected("a0.h1", "m0") and not parallel.connected("a0.h1", "m0")
    assert parallel.connected("a0.h1", "m1") and parallel.connected("m0", "a1.h0<k>")
    assert not sequential.connected("m1", "a1.h0<q>") and sequential.connected("m1", "logits")


def test_grouped_query_attention_shares_key_and_value_inputs() -> None:
    graph = g.Graph(1, 4, n_kv_heads=2)
    assert graph.head_receivers(0) == ["a0.h0<q>", "a0.h1<q>", "a0.h2<q>", "a0.h3<q>",
                                       "a0.g0<k>", "a0.g1<k>", "a0.g0<v>", "a0.g1<v>"]
    assert graph.receiver_nodes("a0.g1<v>") == ["a0.h2", "a0.h3"]


def _scores(graph: g.Graph, values: dict[str, float]) -> torch.Tensor:
    scores = torch.zeros(len(graph.senders), len(graph.receivers))
    for name, value in values.items():
        sender, receiver = name.split("->")
        scores[graph.senders.index(sender), graph.receivers.index(receiver)] = value
    return scores


def test_greedy_grows_from_the_logits_and_prune_drops_dead_ends() -> None:
    graph = g.Graph(2, 2)
    scores = _scores(graph, {
        "a1.h0->logits": 5.0, "a0.h1->a1.h0<v>": 4.0, "input->a0.h1<q>": 3.0,
        "input->a0.h0<q>": 9.0,  # large, but a0.h0 feeds nothing that reaches the logits
    })
    chosen = g.greedy(scores, graph.mask(), 3, graph)
    assert g.nodes_of(chosen, graph) == {"input", "a0.h1", "a1.h0", "logits"}
    top = g.top_n(scores, graph.mask(), 4)
    assert "a0.h0" in g.nodes_of(top, graph)
    assert g.nodes_of(g.prune(top, graph), graph) == {"input", "a0.h1", "a1.h0", "logits"}
