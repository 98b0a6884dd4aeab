"""Causal effects of single attention heads on a Hugging Face causal LM, by activation patching.

This is deliberately separate from the detectors (which go through TransformerLens): it works on
the raw Hugging Face modules with PyTorch hooks, so the zoo's ground truth does not share code
with what it validates. A head's output is the slice of the attention output projection's input
that belongs to it (its z), times its block of the projection weight.

Supported layouts: GPT-2, GPT-NeoX (parallel attention) and Llama (grouped-query attention).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Layout:
    out_proj: list[torch.nn.Module]  # per layer: the module whose input is every head's z
    final_norm: torch.nn.Module
    unembed: torch.nn.Module
    n_heads: int
    d_head: int


def layout(model: torch.nn.Module) -> Layout:
    config = model.config
    kind = config.model_type
    if kind == "gpt2":
        blocks = model.transformer.h
        out = [b.attn.c_proj for b in blocks]
        norm = model.transformer.ln_f
    elif kind == "gpt_neox":
        blocks = model.gpt_neox.layers
        out = [b.attention.dense for b in blocks]
        norm = model.gpt_neox.final_layer_norm
    elif kind == "llama":
        blocks = model.model.layers
        out = [b.self_attn.o_proj for b in blocks]
        norm = model.model.norm
    else:
        raise ValueError(f"no head-ablation layout for model type {kind!r}")
    n_heads = config.num_attention_heads
    d_head = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    return Layout(out, norm, model.get_output_embeddings(), n_heads, d_head)


def head_weight(lay: Layout, layer: int) -> torch.Tensor:
    """W_O of ``layer`` as [heads, d_head, d_model]."""
    module = lay.out_proj[layer]
    w = module.weight
    # GPT-2's Conv1D stores [in, out]; torch Linear stores [out, in].
    w_in_out = w if type(module).__name__ == "Conv1D" else w.T
    return w_in_out.reshape(lay.n_heads, lay.d_head, -1)


@dataclass
class Run:
    """What one forward pass produced: logits, every layer's z, and the final residual stream."""

    logits: torch.Tensor  # [b, t, vocab]
    z: list[torch.Tensor]  # per layer [b, t, heads, d_head]
    final_resid: torch.Tensor  # [b, t, d_model], the final norm's input


@contextmanager
def _hooks(handles: list[torch.utils.hooks.RemovableHandle]) -> Iterator[None]:
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def run(
    model: torch.nn.Module,
    lay: Layout,
    ids: torch.Tensor,
    patch: dict[int, tuple[list[int], torch.Tensor, torch.Tensor]] | None = None,
    frozen: dict[int, torch.Tensor] | None = None,
) -> Run:
    """Forward ``ids``; with ``patch`` = {layer: (heads, position mask [b, t], replacement z
    [b, t, heads, d_head])}, those heads' z are replaced where the mask holds; with ``frozen`` =
    {layer: z}, every head of those layers outputs the given z (patched heads aside)."""
    z_seen: list[torch.Tensor | None] = [None] * len(lay.out_proj)
    resid: list[torch.Tensor] = []

    def pre_out(layer: int):  # type: ignore[no-untyped-def]
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]):  # type: ignore[no-untyped-def]
            x = args[0]
            z = x.view(*x.shape[:-1], lay.n_heads, lay.d_head)
            if frozen and layer in frozen:
                z = frozen[layer].to(z).clone()
            if patch and layer in patch:
                heads, where, replacement = patch[layer]
                z = z.clone()
                for h in heads:
                    z[..., h, :] = torch.where(where[..., None], replacement[..., h, :], z[..., h, :])
            x = z.reshape(x.shape)
            z_seen[layer] = z.detach()
            return (x, *args[1:])

        return hook

    def pre_norm(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        resid.append(args[0].detach())

    handles = [m.register_forward_pre_hook(pre_out(i)) for i, m in enumerate(lay.out_proj)]
    handles.append(lay.final_norm.register_forward_pre_hook(pre_norm))
    with _hooks(handles), torch.no_grad():
        logits = model(ids).logits
    return Run(logits, [z for z in z_seen if z is not None], resid[-1])


def logits_from_resid(lay: Layout, resid: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return lay.unembed(lay.final_norm(resid))


def head_outputs(lay: Layout, model_run: Run, layer: int) -> torch.Tensor:
    """Each head's write into the residual stream: [b, t, heads, d_model]."""
    w = head_weight(lay, layer).to(model_run.z[layer].dtype)
    return torch.einsum("bthe,hed->bthd", model_run.z[layer], w)


def metric(logits: torch.Tensor, targets: Sequence[tuple[int, int, int, int | None]], promote: bool = False) -> torch.Tensor:
    """Per-prompt metric from (row, position, correct id, alternative id or None) targets: the
    mean over a row's targets of logit(correct) - logit(alternative), or log p(correct); with
    ``promote``, logit(correct) minus the mean logit (how much the correct word alone is raised)."""
    n = logits.shape[0]
    total = torch.zeros(n, dtype=torch.float64)
    count = torch.zeros(n, dtype=torch.float64)
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    for row, pos, correct, alt in targets:
        if promote:
            total[row] += logits[row, pos, correct].double() - logits[row, pos].double().mean()
        elif alt is None:
            total[row] += logprobs[row, pos, correct]
        else:
            total[row] += logits[row, pos, correct].double() - logits[row, pos, alt].double()
        count[row] += 1
    return total / count.clamp_min(1)


# -- attention knockout ----------------------------------------------------------------------
# Geva et al. (2023) block attention edges to see which source positions a prediction reads. Here
# one head's edges are blocked: its attention score from a query to a key is set to -inf before
# the softmax, so the head spreads its attention over the keys it had left. The model runs through
# an attention function registered with transformers, which receives every architecture's query,
# key and value after rotary embeddings, so one implementation covers GPT-2, NeoX and Llama.

_KNOCKOUT_NAME = "headdb_knockout"
_blocked: dict[int, list[tuple[int, torch.Tensor]]] = {}  # layer -> [(head, bool [b, q, k])]


def _knockout_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, scaling: float | None = None,
                        dropout: float = 0.0, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal softmax attention with the blocked edges of ``_blocked`` removed. The padding mask
    is not applied: the zoo's prompts are right-padded, and a causal query never sees padding."""
    groups = query.shape[1] // key.shape[1]  # grouped-query attention: each k/v head serves a group
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scores = query @ key.transpose(-1, -2) * (scaling if scaling is not None else query.shape[-1] ** -0.5)
    t_q, t_k = scores.shape[-2:]
    causal = torch.ones(t_q, t_k, dtype=torch.bool, device=scores.device).tril(t_k - t_q)
    scores = scores.masked_fill(~causal, float("-inf"))
    for head, blocked in _blocked.get(getattr(module, "layer_idx", -1), []):
        scores[:, head] = scores[:, head].masked_fill(blocked.to(scores.device), float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    return (weights @ value).transpose(1, 2).contiguous(), weights


def knockout_logits(model: torch.nn.Module, ids: torch.Tensor,
                    blocked: dict[tuple[int, int], torch.Tensor]) -> torch.Tensor:
    """Logits of ``ids`` with each (layer, head)'s attention edges where ``blocked`` [b, q, k]
    holds removed. An empty ``blocked`` gives the model's own logits."""
    from transformers import AttentionInterface

    AttentionInterface.register(_KNOCKOUT_NAME, _knockout_attention)
    _blocked.clear()
    for (layer, head), mask in blocked.items():
        _blocked.setdefault(layer, []).append((head, mask))
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = _KNOCKOUT_NAME
    try:
        with torch.no_grad():
            return model(ids).logits
    finally:
        config._attn_implementation = before
        _blocked.clear()
