"""Edge attribution patching (EAP, Syed et al.) and its integrated-gradients variant (EAP-IG,
Hanna et al.) over a TransformerLens bridge, and exact evaluation of a circuit by patching.

For an edge u -> v the attribution is the change of the task metric that patching u's output
into v's input from the corrupted run would cause, to first order: (a_u(corrupted) - a_u(clean))
dotted with the gradient of the metric at v's input on the clean run, summed over prompts,
positions and the model dimension. EAP-IG replaces the single gradient by its mean over ``steps``
runs whose input embeddings move from the corrupted to the clean prompt (k/steps for
k = 1..steps), as in Hanna et al.'s "inputs" variant. Scores are reported so that positive means
the edge carries the clean behaviour (patching it would lower the metric), averaged over prompts.

Senders are read at ``blocks.0.hook_resid_pre`` (input), each head's z times its W_O block, and
``hook_mlp_out``; receivers at the per-head query/key/value inputs (``use_split_qkv_input``), the
MLP input (``hook_mlp_in``) and the final norm's input (logits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from headdb.circuits.graph import Graph
from headdb.circuits.tasks import CircuitTask
from headdb.detectors.context import ModelContext

Hook = tuple[str, Callable[..., Any]]


def graph_of(ctx: ModelContext) -> Graph:
    parallel = bool(getattr(ctx.bridge.cfg, "parallel_attn_mlp", False))
    return Graph(ctx.n_layers, ctx.n_heads, parallel, ctx.n_kv_heads)


@contextmanager
def split_inputs(ctx: ModelContext) -> Iterator[None]:
    """Per-head q/k/v input copies and an MLP-input hook point, for the duration of a block."""
    ctx.bridge.set_use_split_qkv_input(True)
    ctx.bridge.set_use_hook_mlp_in(True)
    try:
        yield
    finally:
        ctx.bridge.set_use_split_qkv_input(False)
        ctx.bridge.set_use_hook_mlp_in(False)


def _sender_hooks(ctx: ModelContext, store: dict[int, torch.Tensor], graph: Graph) -> list[Hook]:
    """Hooks that record every sender's output [b, t, d] under its index in ``graph.senders``."""
    index = {name: i for i, name in enumerate(graph.senders)}

    def put_input(x: torch.Tensor, hook: Any) -> None:
        store[index["input"]] = x

    def put_heads(layer: int):  # type: ignore[no-untyped-def]
        def hook(z: torch.Tensor, hook: Any) -> None:
            out = torch.einsum("bthe,hed->bthd", z, ctx.W_O[layer].to(z))
            for h in range(ctx.n_heads):
                store[index[f"a{layer}.h{h}"]] = out[:, :, h]
        return hook

    def put_mlp(layer: int):  # type: ignore[no-untyped-def]
        def hook(x: torch.Tensor, hook: Any) -> None:
            store[index[f"m{layer}"]] = x
        return hook

    hooks: list[Hook] = [("blocks.0.hook_resid_pre", put_input)]
    for layer in range(ctx.n_layers):
        hooks.append((f"blocks.{layer}.attn.hook_z", put_heads(layer)))
        hooks.append((f"blocks.{layer}.hook_mlp_out", put_mlp(layer)))
    return hooks


def _receiver_points(ctx: ModelContext, graph: Graph) -> list[tuple[str, list[int], str]]:
    """(hook name, receiver indices, kind) for every receiver hook: per-head inputs come as
    [b, t, heads, d] and map to receivers in order; the MLP and logits inputs are [b, t, d]."""
    index = {name: i for i, name in enumerate(graph.receivers)}
    points: list[tuple[str, list[int], str]] = []
    for layer in range(ctx.n_layers):
        names = graph.head_receivers(layer)
        q = [index[n] for n in names if n.endswith("<q>")]
        k = [index[n] for n in names if n.endswith("<k>")]
        v = [index[n] for n in names if n.endswith("<v>")]
        points += [(f"blocks.{layer}.attn.hook_q_input", q, "heads"), (f"blocks.{layer}.attn.hook_k_input", k, "heads"),
                   (f"blocks.{layer}.attn.hook_v_input", v, "heads"),
                   (f"blocks.{layer}.hook_mlp_in", [index[f"m{layer}"]], "single")]
    points.append(("ln_final.hook_in", [index["logits"]], "single"))
    return points


def _stack(store: dict[int, torch.Tensor], n: int) -> torch.Tensor:
    return torch.stack([store[i].detach().float() for i in range(n)])


def _run(ctx: ModelContext, tokens: torch.Tensor, hooks: list[Hook]) -> torch.Tensor:
    return ctx.bridge.run_with_hooks(tokens.to(ctx.device), fwd_hooks=hooks, return_type="logits")


class _Stop(Exception):
    """Raised at the final norm's input: nothing after it is needed."""


def _run_to_final_norm(ctx: ModelContext, tokens: torch.Tensor, hooks: list[Hook]) -> torch.Tensor:
    """The residual stream at the final norm's input [b, t, d] after running ``hooks``; the final
    norm and the unembedding (about a third of a GPT-2-small pass) are skipped."""
    store: dict[str, torch.Tensor] = {}

    def grab(x: torch.Tensor, hook: Any) -> torch.Tensor:
        store["resid"] = x
        raise _Stop

    try:
        # After any receiver hook on the same point (hooks chain), so gradients reach it.
        _run(ctx, tokens, [*hooks, ("ln_final.hook_in", grab)])
    except _Stop:
        pass
    return store["resid"]


def _sender_outputs(ctx: ModelContext, tokens: torch.Tensor, graph: Graph) -> torch.Tensor:
    """Every sender's output [senders, b, t, d]. Run without split q/k/v inputs, which only the
    receivers need and which cost a copy of the residual stream per head."""
    store: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        _run_to_final_norm(ctx, tokens, _sender_hooks(ctx, store, graph))
    return _stack(store, len(graph.senders))


def _add_receiver_grads(ctx: ModelContext, tokens: torch.Tensor, task: CircuitTask, rows: slice, graph: Graph,
                        embeddings: torch.Tensor, grads: dict[str, torch.Tensor]) -> None:
    """Add the gradient of the summed metric at every receiver hook point (by hook name, in the
    point's shape: [b, t, heads, d] or [b, t, d]) into ``grads``, on ``tokens`` with the block-0
    input replaced by ``embeddings``."""

    def root(x: torch.Tensor, hook: Any) -> torch.Tensor:
        return embeddings.detach().to(x).requires_grad_(True)

    def capture(name: str):  # type: ignore[no-untyped-def]
        def hook(x: torch.Tensor, hook: Any) -> torch.Tensor:
            def keep(g: torch.Tensor) -> None:
                if name in grads:
                    grads[name].add_(g.detach())
                else:
                    grads[name] = g.detach().to(torch.float32, copy=True)
            # A copy, so the gradient caught is the one through this receiver only (an MLP's
            # input point is the residual stream itself, which also flows on past the MLP).
            y = x.clone()
            y.register_hook(keep)
            return y
        return hook

    hooks: list[Hook] = [("blocks.0.hook_resid_pre", root)]
    hooks += [(name, capture(name)) for name, _, _ in _receiver_points(ctx, graph)]
    with torch.enable_grad():
        metric_at_answer(ctx, tokens, task, rows, hooks).sum().backward()


def _edge_scores(ctx: ModelContext, graph: Graph, mask: torch.Tensor, delta: torch.Tensor,
                 grads: dict[str, torch.Tensor]) -> torch.Tensor:
    """delta [senders, b, t, d] dotted with each receiver's gradient, summed over b, t and d:
    [senders, receivers] in float64. Each receiver point is multiplied only with the senders
    before it (a prefix of the sender order), which is about half of all pairs."""
    scores = torch.zeros(len(graph.senders), len(graph.receivers), dtype=torch.float64)
    flat = delta.reshape(len(graph.senders), -1)
    for name, indices, kind in _receiver_points(ctx, graph):
        if name not in grads:  # no gradient reached it: every edge into it scores 0
            continue
        g = grads[name]
        if kind == "heads":
            g = g[:, :, : len(indices)].permute(2, 0, 1, 3).reshape(len(indices), -1)
        else:
            g = g.reshape(1, -1)
        before = int(mask[:, indices].any(1).nonzero().max()) + 1
        scores[:before, indices] += (flat[:before] @ g.T).double().cpu()
    return scores


def metric_at_answer(ctx: ModelContext, tokens: torch.Tensor, task: CircuitTask, rows: slice,
                     hooks: list[Hook]) -> torch.Tensor:
    """The task metric per row, with the final norm and unembedding applied at each row's answer
    position only: the metric reads no other position. Gradients flow to the hooked activations."""
    resid = _run_to_final_norm(ctx, tokens, hooks)
    end = task.end[rows].to(resid.device)
    final = ctx.final_norm(resid[torch.arange(resid.shape[0], device=resid.device), end]).float()
    return task.metric_at_end(final @ ctx.W_U + ctx.b_U, rows)


ABLATIONS = ("corrupted", "mean")


def mean_outputs(ctx: ModelContext, task: CircuitTask, graph: Graph) -> torch.Tensor:
    """Every sender's output averaged over the task's clean prompts and their positions up to the
    answer: [senders, d] (the values mean ablation puts in place of a removed edge)."""
    total = torch.zeros(len(graph.senders), ctx.d_model, dtype=torch.float64)
    count = 0
    for start in range(0, len(task), ctx.batch_size):
        rows = slice(start, min(len(task), start + ctx.batch_size))
        out = _sender_outputs(ctx, task.clean[rows], graph)
        keep = torch.arange(out.shape[2])[None, :] <= task.end[rows][:, None]  # [b, t]
        total += (out * keep[None, :, :, None]).sum((1, 2)).double()
        count += int(keep.sum())
    return (total / max(count, 1)).float()


def _ablated(ctx: ModelContext, task: CircuitTask, graph: Graph, rows: slice, ablation: str,
             means: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """What a removed edge carries for these rows: the corrupted prompts' sender outputs, or the
    dataset means broadcast to the batch's shape."""
    if ablation == "mean":
        assert means is not None
        return means[:, None, None, :].expand_as(like).clone()
    return _sender_outputs(ctx, task.corrupted[rows], graph)


def attribute(ctx: ModelContext, task: CircuitTask, graph: Graph, method: str = "eap-ig", steps: int = 5,
              ablation: str = "corrupted", progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Edge scores [senders, receivers] (0 where no edge exists): the mean over prompts of the
    metric drop patching the edge would cause, to first order (see the module docstring). With
    ``ablation="mean"`` an edge is patched to its sender's dataset mean instead of the corrupted
    prompt's value (and integrated gradients start from the mean input)."""
    if method not in ("eap", "eap-ig"):
        raise ValueError(f"unknown attribution method {method!r}; choose eap or eap-ig")
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
    n = len(task)
    mask = graph.mask()
    total = torch.zeros(len(graph.senders), len(graph.receivers), dtype=torch.float64)
    alphas = [1.0] if method == "eap" else [k / steps for k in range(1, steps + 1)]
    means = mean_outputs(ctx, task, graph) if ablation == "mean" else None
    for start in range(0, n, ctx.batch_size):
        rows = slice(start, min(n, start + ctx.batch_size))
        clean_out = _sender_outputs(ctx, task.clean[rows], graph)
        corrupt_out = _ablated(ctx, task, graph, rows, ablation, means, clean_out)
        x_clean, x_corrupt = clean_out[0], corrupt_out[0]
        grads: dict[str, torch.Tensor] = {}
        with split_inputs(ctx):
            for a in alphas:
                _add_receiver_grads(ctx, task.clean[rows], task, rows, graph, x_corrupt + a * (x_clean - x_corrupt), grads)
        # The edge score is linear in the gradient, so the mean over steps is taken once, here.
        total += _edge_scores(ctx, graph, mask, corrupt_out - clean_out, grads) / len(alphas)
        if progress:
            progress(rows.stop, n)
    return (-total / n).float() * mask


def evaluate(ctx: ModelContext, task: CircuitTask, graph: Graph, chosen: torch.Tensor,
             ablation: str = "corrupted", means: torch.Tensor | None = None) -> torch.Tensor:
    """The metric per prompt [n] with only ``chosen`` edges [senders, receivers] carrying the clean
    run: every other edge's sender output is replaced, at its receiver, by its corrupted value (or
    its dataset mean, with ``ablation="mean"``)."""
    mask = graph.mask()
    missing = (mask & ~chosen).float()  # [senders, receivers]
    n = len(task)
    out = torch.empty(n)
    if ablation == "mean" and means is None:
        means = mean_outputs(ctx, task, graph)
    for start in range(0, n, ctx.batch_size):
        rows = slice(start, min(n, start + ctx.batch_size))
        shape_of = torch.empty(len(graph.senders), *task.clean[rows].shape, ctx.d_model)
        corrupt_out = _ablated(ctx, task, graph, rows, ablation, means, shape_of)
        store: dict[int, torch.Tensor] = {}
        # corrupted - clean for the senders seen so far; they arrive in sender order, so the
        # senders known at any receiver are a prefix of it.
        diff = torch.empty_like(corrupt_out)
        done = [0]

        def patch(indices: list[int], kind: str):  # type: ignore[no-untyped-def]
            def hook(x: torch.Tensor, hook: Any) -> torch.Tensor:
                while done[0] in store:
                    diff[done[0]] = corrupt_out[done[0]] - store[done[0]].float()
                    done[0] += 1
                known = done[0]
                correction = torch.einsum("ur,ubtd->rbtd", missing[:known, indices], diff[:known]).to(x)
                if kind == "heads":
                    return x + correction.permute(1, 2, 0, 3)
                return x + correction[0]
            return hook

        hooks = _sender_hooks(ctx, store, graph)
        hooks += [(name, patch(idx, kind)) for name, idx, kind in _receiver_points(ctx, graph)]
        with split_inputs(ctx), torch.inference_mode():
            out[rows] = metric_at_answer(ctx, task.clean[rows], task, rows, hooks).float().cpu()
    return out
