"""``ModelContext``: what detectors may ask of a loaded model, computed once and shared.

Forward passes run batched over a whole dataset with hooks only on the activations detectors
read, and each hook reduces its activation at once (e.g. a [batch, head, q, k] attention pattern
to the handful of query/key entries a score needs), so no activation cache is kept. Reductions are
memoised per dataset, so detectors that share a dataset share one forward pass. Weight-space
quantities (OV circuits, effective embeddings) are computed from the weights, for all heads at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from headdb.detectors.datasets import PromptSet
from headdb.detectors.datasets.probes import Probes
from headdb.detectors.datasets.tokens import TokenizerView

# (activation for one layer and batch chunk, layer index, the chunk's rows) -> reduced [chunk, ...]
Reducer = Callable[[torch.Tensor, int, PromptSet], torch.Tensor]
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Capture:
    """Read ``blocks.{layer}.<hook>`` in every layer and keep only ``reduce``'s result."""

    key: str
    hook: str  # e.g. "attn.hook_pattern", "attn.hook_z"
    reduce: Reducer


BATCH_MEMORY_SHARE = 0.25  # of the free memory, for one batch's activations
_BATCH_LIMITS = (1, 256)


def free_memory_bytes(device: torch.device) -> int:
    """Free memory of ``device``: the GPU's own count for CUDA, available RAM otherwise."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def auto_batch_size(ctx: ModelContext, seq_len: int = 128) -> int:
    """Prompts per forward pass such that one batch's largest activations (a layer's attention
    pattern, a few residual-sized tensors, the logits, and their gradients when a detector takes
    them) fit in a quarter of the free memory. An estimate: a GPT-2-small pass on CPU gets the
    maximum; a 7B model on one 80 GB GPU gets a few prompts."""
    dtype_bytes = next(iter(ctx.bridge.parameters())).element_size()
    per_prompt = dtype_bytes * seq_len * (ctx.n_heads * seq_len + 8 * ctx.d_model + 2 * ctx.d_vocab)
    per_prompt *= 3  # activations kept for a backward pass, and the float32 copies hooks make
    fits = int(free_memory_bytes(ctx.device) * BATCH_MEMORY_SHARE // max(per_prompt, 1))
    return max(_BATCH_LIMITS[0], min(_BATCH_LIMITS[1], fits))


class ModelContext:
    """A TransformerLens ``TransformerBridge`` plus its tokenizer, seen the way detectors need."""

    def __init__(
        self,
        bridge: Any,
        batch_size: int | None = 16,
        progress: ProgressCallback | None = None,
        probes: Probes | None = None,
    ) -> None:
        self.bridge = bridge
        # Detectors take gradients only with respect to activations (attribution scans).
        bridge.requires_grad_(False)
        original = getattr(bridge, "original_model", None)
        if isinstance(original, torch.nn.Module):
            original.requires_grad_(False)
        cfg = bridge.cfg
        self.n_layers: int = cfg.n_layers
        self.n_heads: int = cfg.n_heads
        self.n_kv_heads: int = getattr(cfg, "n_key_value_heads", None) or cfg.n_heads
        self.d_model: int = cfg.d_model
        self.d_head: int = cfg.d_head
        self.d_vocab: int = cfg.d_vocab
        self.n_ctx: int = cfg.n_ctx
        # None: as many prompts per pass as a quarter of the device's free memory holds.
        self.batch_size = batch_size or auto_batch_size(self)
        self.progress = progress
        self.view = TokenizerView(bridge.tokenizer, self.d_vocab, probes)
        self._captured: dict[tuple[str, str], torch.Tensor] = {}
        self.memo: dict[str, Any] = {}  # detectors share intermediate results here

    @property
    def device(self) -> torch.device:
        return self.W_E.device

    # -- forward passes --------------------------------------------------------------------

    def capture(
        self,
        prompts: PromptSet,
        captures: Sequence[Capture],
        tokens: torch.Tensor | None = None,
        tag: str = "",
    ) -> dict[str, torch.Tensor]:
        """Run ``prompts`` (or ``tokens`` with the same rows) once and return each capture
        stacked over layers: [n_prompts, n_layers, ...]. Cached by dataset fingerprint."""
        source = f"{prompts.fingerprint}:{tag}"
        missing = [c for c in captures if (source, c.key) not in self._captured]
        if missing:
            results = self._run(prompts, missing, prompts.tokens if tokens is None else tokens, tag)
            for c in missing:
                self._captured[(source, c.key)] = results[c.key]
        return {c.key: self._captured[(source, c.key)] for c in captures}

    def _run(
        self, prompts: PromptSet, captures: Sequence[Capture], tokens: torch.Tensor, tag: str
    ) -> dict[str, torch.Tensor]:
        per_key: dict[str, list[list[torch.Tensor]]] = {c.key: [] for c in captures}
        n = len(prompts)
        for start in range(0, n, self.batch_size):
            rows = slice(start, min(n, start + self.batch_size))
            chunk = prompts.subset(rows)
            store: dict[str, list[torch.Tensor | None]] = {c.key: [None] * self.n_layers for c in captures}
            hooks = []
            for c in captures:
                for layer in range(self.n_layers):
                    hooks.append((f"blocks.{layer}.{c.hook}", self._hook(c, layer, chunk, store)))
            self.forward(tokens[rows], hooks)
            for c in captures:
                per_key[c.key].append(torch.stack(store[c.key], dim=1))  # type: ignore[arg-type]
            if self.progress:
                self.progress(f"{prompts.name}{(' ' + tag) if tag else ''}", min(n, start + self.batch_size), n)
        return {k: torch.cat(v, dim=0) for k, v in per_key.items()}

    @staticmethod
    def _hook(capture: Capture, layer: int, chunk: PromptSet, store: dict[str, list[torch.Tensor | None]]):  # type: ignore[no-untyped-def]
        def hook(activation: torch.Tensor, hook: Any) -> None:
            store[capture.key][layer] = capture.reduce(activation.detach(), layer, chunk).float().cpu()

        return hook

    def forward(
        self,
        tokens: torch.Tensor,
        hooks: Iterable[tuple[str, Callable[..., Any]]],
        stop_at_layer: int | None = None,
    ) -> None:
        """One forward pass with hooks. Logits are never needed: the pass stops after the last
        block a hook reads (or at ``stop_at_layer``)."""
        hooks = list(hooks)
        if stop_at_layer is None:
            layers = [int(name.split(".")[1]) for name, _ in hooks if name.startswith("blocks.")]
            stop_at_layer = max(layers) + 1 if layers else None
        if stop_at_layer is not None and stop_at_layer >= self.n_layers:
            stop_at_layer = None
        with torch.inference_mode():
            self.bridge.run_with_hooks(
                tokens.to(self.device), fwd_hooks=hooks, return_type=None, stop_at_layer=stop_at_layer
            )

    def logits(self, tokens: torch.Tensor, hooks: Iterable[tuple[str, Callable[..., Any]]] = ()) -> torch.Tensor:
        """One full forward pass with hooks; returns the logits [batch, pos, vocab] (float)."""
        with torch.inference_mode():
            out = self.bridge.run_with_hooks(tokens.to(self.device), fwd_hooks=list(hooks), return_type="logits")
        return out.float()

    def final_logits(self, resid: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """Logits of ``token_ids`` [n, k] from final-residual vectors [n, ..., d_model]: the
        model's own final norm recomputed on each vector, then the unembedding (and its bias)."""
        norm = self._norm_module(None)
        dtype = next(norm.parameters()).dtype
        with torch.inference_mode():
            x = norm(resid.to(self.device, dtype)).float()
        u = self.W_U.T[token_ids.to(self.device)]  # [n, k, d]
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        out = torch.einsum("nmd,nkd->nmk", flat, u) + self.b_U[token_ids.to(self.device)][:, None, :]
        return out.reshape(*x.shape[:-1], token_ids.shape[1]).cpu()

    # -- weights ---------------------------------------------------------------------------

    @cached_property
    def b_U(self) -> torch.Tensor:
        bias = getattr(self.bridge, "b_U", None)
        return bias.detach().float() if isinstance(bias, torch.Tensor) else torch.zeros(self.d_vocab, device=self.W_E.device)

    @cached_property
    def W_E(self) -> torch.Tensor:
        return self.bridge.W_E.detach().float()

    @cached_property
    def W_U(self) -> torch.Tensor:
        return self.bridge.W_U.detach().float()

    def kv_index(self, head: int) -> int:
        """The key/value head a query head reads (grouped-query attention shares them)."""
        return head // (self.n_heads // self.n_kv_heads)

    @cached_property
    def W_V(self) -> torch.Tensor:
        """[layer, query head, d_model, d_head], KV heads repeated for grouped-query attention."""
        w = self.bridge.W_V.detach().float()
        index = torch.tensor([self.kv_index(h) for h in range(self.n_heads)], device=w.device)
        return w[:, index]

    @cached_property
    def b_V(self) -> torch.Tensor:
        try:
            b = self.bridge.b_V.detach().float()
        except AttributeError:  # bias-free projections (Llama)
            return torch.zeros(self.n_layers, self.n_heads, self.d_head, device=self.W_E.device)
        index = torch.tensor([self.kv_index(h) for h in range(self.n_heads)], device=b.device)
        return b[:, index] if b.shape[1] != self.n_heads else b

    @cached_property
    def W_O(self) -> torch.Tensor:
        return self.bridge.W_O.detach().float()

    def final_norm(self, x: torch.Tensor) -> torch.Tensor:
        """The model's final norm applied to residual vectors [..., d_model] (differentiable)."""
        return self._norm_module(None)(x)

    def _norm_module(self, layer: int | None, which: str = "ln1") -> torch.nn.Module:
        component = self.bridge.ln_final if layer is None else getattr(self.bridge.blocks[layer], which)
        return getattr(component, "_original_component", component)

    def _module(self, layer: int, name: str) -> torch.nn.Module:
        component = getattr(self.bridge.blocks[layer], name)
        return getattr(component, "_original_component", component)

    def ln1(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """The norm in front of ``layer``'s attention, applied to residual vectors [..., d_model]."""
        module = self._norm_module(layer)
        with torch.inference_mode():
            return module(x.to(next(module.parameters()).dtype)).float()

    def norm_gain(self, layer: int | None) -> torch.Tensor:
        """Elementwise weight of a norm (ln1 of ``layer``, or the final norm for None)."""
        weight = getattr(self._norm_module(layer), "weight", None)
        return torch.ones(self.d_model, device=self.W_E.device) if weight is None else weight.detach().float()

    @cached_property
    def _final_is_layernorm(self) -> bool:
        return getattr(self._norm_module(None), "bias", None) is not None or isinstance(
            self._norm_module(None), torch.nn.LayerNorm
        )

    @cached_property
    def _unembed_matrix(self) -> torch.Tensor:
        # The final norm's gain folded into W_U, stored contiguously: the bridge's tied W_U is a
        # transposed view, and a matmul against it was measured 6x slower.
        return (self.W_U * self.norm_gain(None)[:, None]).contiguous()

    def unembed(self, x: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Direct logits of residual-stream directions: the final norm's linear part (centering
        for LayerNorm, the gain) then W_U. Norm scale and bias are left out: they shift or scale
        every token alike for one vector and so do not change its ranking of tokens."""
        if self._final_is_layernorm:
            x = x - x.mean(dim=-1, keepdim=True)
        w_u = self._unembed_matrix if token_ids is None else self._unembed_matrix[:, token_ids]
        return (x.reshape(-1, x.shape[-1]) @ w_u).reshape(*x.shape[:-1], w_u.shape[-1])

    def mlp0_embeddings(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Gould et al.'s effective embedding, as headdb computes it: each token's embedding plus
        what the first MLP adds to it, W_E[t] + MLP0(norm(W_E[t])) (the MLP's own input norm);
        attention layer 0 and positional embeddings are left out."""
        key = f"mlp0:{hash(tuple(token_ids.flatten().tolist()))}"
        if key not in self.memo:
            norm, mlp = self._module(0, "ln2"), self._module(0, "mlp")
            dtype = next(mlp.parameters()).dtype
            with torch.inference_mode():
                x = self.bridge.W_E.detach()[token_ids.to(self.device)].to(dtype)
                self.memo[key] = (x + mlp(norm(x))).float()
        return self.memo[key]  # type: ignore[no-any-return]

    def block0_embeddings(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Residual stream after block 0 for each token on its own at position 0 (no BOS): the
        embedding plus what attention layer 0 and MLP0 add (headdb's successor detector 1.0)."""
        key = f"block0:{hash(tuple(token_ids.flatten().tolist()))}"
        if key not in self.memo:
            out: list[torch.Tensor] = []

            def keep(activation: torch.Tensor, hook: Any) -> None:
                out.append(activation[:, 0].detach().float())

            for start in range(0, len(token_ids), 256):
                batch = token_ids[start : start + 256].reshape(-1, 1)
                self.forward(batch, [("blocks.0.hook_resid_post", keep)])
            self.memo[key] = torch.cat(out, dim=0)
        return self.memo[key]

    def head_outputs(self, layer: int, x: torch.Tensor, value_bias: bool = True) -> torch.Tensor:
        """What each head of ``layer`` writes when it attends fully to residual vectors ``x``
        [n, d_model]: ln1, then the OV circuit per head (b_V included unless ``value_bias`` is
        False). Returns [n, n_heads, d_model]."""
        normed = self.ln1(layer, x).to(self.W_V.device)
        values = torch.einsum("nd,hde->nhe", normed, self.W_V[layer])
        if value_bias:
            values = values + self.b_V[layer]
        return torch.einsum("nhe,hed->nhd", values, self.W_O[layer])

    def z_to_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Per-head residual writes from per-head z [..., heads, d_head] -> [..., heads, d_model]."""
        return torch.einsum("...he,hed->...hd", z.to(self.W_O.device).float(), self.W_O[layer])
