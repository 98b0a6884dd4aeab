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
