"""The computational graph edge attribution patching works on, and circuit selection. Pure code.

Nodes are named as EAP-IG names them: ``input`` (the embeddings), ``a{L}.h{H}`` (each attention
head), ``m{L}`` (each MLP) and ``logits``. Receivers are where a node reads the residual stream:
a head has three (``a{L}.h{H}<q>``, ``<k>``, ``<v>``), an MLP one (``m{L}``), the logits one.
With grouped-query attention the heads of a group share one key and one value input, named
``a{L}.g{G}<k>`` and ``<v>`` and belonging to every head of group G.
An edge ``u->v`` carries u's output into v's input. A head reads every earlier layer's heads and
MLPs and the input; an MLP also reads its own layer's heads unless attention and MLP run in
parallel (GPT-NeoX); the logits read everything. Heads of one layer do not read each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Graph:
    n_layers: int
    n_heads: int
    parallel_attn_mlp: bool = False
    n_kv_heads: int | None = None

    @property
    def grouped(self) -> bool:
        return self.n_kv_heads is not None and self.n_kv_heads != self.n_heads

    def head_receivers(self, layer: int) -> list[str]:
        """The receivers of one layer's attention, in the order the attribution code fills them:
        every query head's q, then the key and value inputs (per head, or per group)."""
        names = [f"a{layer}.h{h}<q>" for h in range(self.n_heads)]
        units = [f"g{g}" for g in range(self.n_kv_heads or 0)] if self.grouped else [f"h{h}" for h in range(self.n_heads)]
        names += [f"a{layer}.{u}<k>" for u in units] + [f"a{layer}.{u}<v>" for u in units]
        return names

    # -- senders (outputs) and receivers (inputs), in a fixed order -------------------------

    @property
    def senders(self) -> list[str]:
        names = ["input"]
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + [f"m{layer}"]
        return names

    @property
    def receivers(self) -> list[str]:
        names = []
        for layer in range(self.n_layers):
            names += self.head_receivers(layer) + [f"m{layer}"]
        return names + ["logits"]

    def receiver_nodes(self, receiver: str) -> list[str]:
        """The nodes a receiver feeds: ``a1.h2<q>`` -> [a1.h2]; ``a1.g0<k>`` -> the group's heads."""
        node = receiver.split("<")[0]
        if ".g" in node:
            layer, group = node[1:].split(".g")
            size = self.n_heads // (self.n_kv_heads or self.n_heads)
            return [f"a{layer}.h{h}" for h in range(int(group) * size, (int(group) + 1) * size)]
        return [node]

    def sender_layer(self, name: str) -> float:
        """Layer of a sender, with MLPs after their layer's heads (input at -1)."""
        if name == "input":
            return -1.0
        if name.startswith("m"):
            return int(name[1:]) + 0.5
        return float(int(name[1:].split(".")[0]))

    def receiver_layer(self, name: str) -> float:
        if name == "logits":
            return float(self.n_layers)
        if name.startswith("m"):
            return int(name[1:]) + 0.5
        return float(int(name[1:].split(".")[0]))

    def connected(self, sender: str, receiver: str) -> bool:
        s, r = self.sender_layer(sender), self.receiver_layer(receiver)
        if receiver.startswith("m") and sender.startswith("a") and self.parallel_attn_mlp:
            return s < int(receiver[1:])  # a parallel MLP reads the block's input, not its heads
        return s < r

    def mask(self) -> torch.Tensor:
        """[senders, receivers] bool: which edges exist."""
        return torch.tensor([[self.connected(s, r) for r in self.receivers] for s in self.senders])

    def edge_names(self) -> list[str]:
        return [f"{s}->{r}" for s in self.senders for r in self.receivers if self.connected(s, r)]

    @property
    def n_edges(self) -> int:
        return int(self.mask().sum())


def top_n(scores: torch.Tensor, mask: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` edges of largest |score| among existing ones: a bool [senders, receivers]."""
    flat = scores.abs().masked_fill(~mask, -1.0).flatten()
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    n = min(n, int(mask.sum()))
    if n > 0:
        chosen[flat.topk(n).indices] = True
    return chosen.view_as(mask) & mask


def greedy(scores: torch.Tensor, mask: torch.Tensor, n: int, graph: Graph) -> torch.Tensor:
    """EAP-IG's greedy selection: start from the logits and repeatedly add the edge of largest
    |score| whose receiving node is already in the circuit, until ``n`` edges."""
    senders, receivers = graph.senders, graph.receivers
    in_circuit_nodes = {"logits"}
    chosen = torch.zeros_like(mask)
    value = scores.abs().masked_fill(~mask, -1.0)
    receiver_nodes = [graph.receiver_nodes(r) for r in receivers]
    for _ in range(min(n, int(mask.sum()))):
        allowed = torch.tensor([any(node in in_circuit_nodes for node in nodes) for nodes in receiver_nodes])
        candidate = value.masked_fill(~allowed[None, :] | chosen, -1.0)
        best = int(candidate.flatten().argmax())
        if float(candidate.flatten()[best]) < 0:
            break
        s, r = divmod(best, len(receivers))
        chosen[s, r] = True
        in_circuit_nodes.add(senders[s])
    return chosen


def prune(chosen: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Drop edges whose sender has no path to the logits or whose receiving node nothing feeds
    (besides the input, which needs no parent), until nothing changes."""
    senders, receivers = graph.senders, graph.receivers
    receiver_nodes = [graph.receiver_nodes(r) for r in receivers]
    chosen = chosen.clone()
    while True:
        fed = {"input"} | {n for r in range(len(receivers)) if chosen[:, r].any() for n in receiver_nodes[r]}
        feeding = {"logits"} | {senders[s] for s in range(len(senders)) if chosen[s].any()}
        keep = torch.tensor([[senders[s] in fed and any(n in feeding for n in receiver_nodes[r])
                              for r in range(len(receivers))] for s in range(len(senders))])
        pruned = chosen & keep
        if torch.equal(pruned, chosen):
            return pruned
        chosen = pruned


def nodes_of(chosen: torch.Tensor, graph: Graph) -> set[str]:
    senders, receivers = graph.senders, graph.receivers
    out: set[str] = set()
    for s, r in chosen.nonzero().tolist():
        out.add(senders[s])
        out.update(graph.receiver_nodes(receivers[r]))
    return out
