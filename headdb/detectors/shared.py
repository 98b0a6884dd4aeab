"""Datasets and forward-pass reductions that several detectors read.

Each function memoises its result on the ``ModelContext``, so the previous-token, duplicate-token
and induction detectors share one pass over the repeated tokens (and one over their control
twins), the name-mover and S-inhibition detectors the IOI passes, and the mover and relation
detectors one factual pass. Every reduction keeps per-prompt values, which the calibration
(bootstrap intervals, null p-values) needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from headdb.detectors import kernels
from headdb.detectors.calibration import Cells
from headdb.detectors.context import Capture, ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.datasets.factual import factual_prompts
from headdb.detectors.datasets.ioi import ioi_prompts
from headdb.detectors.datasets.ordinal import name_tokens, ordinal_tokens
from headdb.detectors.datasets.repeated import repeated_random_tokens

T = TypeVar("T")


def memo(ctx: ModelContext, key: str, build: Callable[[], T]) -> T:
    if key not in ctx.memo:
        ctx.memo[key] = build()
    return ctx.memo[key]  # type: ignore[no-any-return]


# -- repeated random tokens ------------------------------------------------------------------


def repeated_data(ctx: ModelContext, n_prompts: int, half_length: int, seed: int, pool: str = "default") -> PromptSet:
    return memo(ctx, f"repeated:{n_prompts}:{half_length}:{seed}:{pool}",
                lambda: repeated_random_tokens(ctx.view, n_prompts, half_length, ctx.n_ctx, seed, pool))


def _pairs(pattern: torch.Tensor, chunk: PromptSet, query: str, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean attention to the targets and to BOS over a prompt's queries: two [n, h] tensors."""
    i = chunk.index
    to_target = kernels.mean_attention_to(pattern, i[query], i[key])
    to_bos = kernels.mean_attention_to(pattern, i[query], torch.zeros_like(i[query])) if chunk.meta.get("bos") else torch.zeros_like(to_target)
    return to_target, to_bos


def _repeated_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    prev, prev_bos = _pairs(pattern, chunk, "prev_query", "prev_key")
    prev_null, _ = _pairs(pattern, chunk, "prev_null_query", "prev_null_key")
    dup, dup_bos = _pairs(pattern, chunk, "dup_query", "dup_key")
    ind, _ = _pairs(pattern, chunk, "ind_query", "ind_key")
    return torch.stack([prev, prev_bos, prev_null, dup, dup_bos, ind], dim=-1)


def _control_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    dup, _ = _pairs(pattern, chunk, "dup_query", "dup_key")
    ind, _ = _pairs(pattern, chunk, "ind_query", "ind_key")
    return torch.stack([dup, ind], dim=-1)


REPEATED = ("prev", "prev_bos", "prev_null", "dup", "dup_bos", "ind")
CELLS = ("prev", "dup", "ind")  # statistics whose per-query values are kept as well


def _cells_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    """Every scored query's attention to its target, [n, h, queries] per statistic, concatenated
    along the last dimension in the order of ``CELLS``."""
    i = chunk.index
    parts = [kernels.gather_attention(pattern, i[f"{name}_query"], i[f"{name}_key"]) for name in CELLS]
    return torch.cat(parts, dim=1).transpose(1, 2)


def repeated_cells(ctx: ModelContext, prompts: PromptSet) -> dict[str, Cells]:
    """Per-query attention to the previous token (``prev``), the earlier duplicate (``dup``) and
    the induction target (``ind``), with the query's and key's tokens. Same pass as
    ``repeated_attention``."""

    def build() -> dict[str, Cells]:
        got = ctx.capture(prompts, [Capture("repeated_cells", "attn.hook_pattern", _cells_reduce)])["repeated_cells"]
        got = got.permute(0, 3, 1, 2)  # [n, queries, layers, heads]
        out, start = {}, 0
        for name in CELLS:
            query, key = prompts.index[f"{name}_query"], prompts.index[f"{name}_key"]
            stop = start + query.shape[1]
            out[name] = Cells(got[:, start:stop], (prompts.tokens.gather(1, query), prompts.tokens.gather(1, key)))
            start = stop
        return out

    return memo(ctx, f"repeated_cells:{prompts.fingerprint}", build)


def repeated_attention(ctx: ModelContext, prompts: PromptSet) -> dict[str, torch.Tensor]:
    """Per-prompt mean attention of every head, each [prompts, layers, heads]: to the previous
    token (``prev``), to BOS from those queries (``prev_bos``), to a random earlier position
    (``prev_null``), to the earlier duplicate (``dup``, ``dup_bos``), to the induction target
    (``ind``); and on the non-repeating control twins, to the same duplicate and induction
    positions (``dup_control``, ``ind_control``)."""

    def build() -> dict[str, torch.Tensor]:
        got = ctx.capture(prompts, [Capture("repeated_targets", "attn.hook_pattern", _repeated_reduce),
                                    Capture("repeated_cells", "attn.hook_pattern", _cells_reduce)])["repeated_targets"]
        control = ctx.capture(prompts, [Capture("repeated_control", "attn.hook_pattern", _control_reduce)],
                              tokens=prompts.index["control_tokens"], tag="control")["repeated_control"]
        out = {name: got[..., j] for j, name in enumerate(REPEATED)}
        out["dup_control"], out["ind_control"] = control[..., 0], control[..., 1]
        return out

    return memo(ctx, f"repeated_attention:{prompts.fingerprint}", build)


def without_bos(attention: torch.Tensor, to_bos: torch.Tensor) -> torch.Tensor:
    """Attention renormalised over the non-BOS positions (BOS as an attention sink left out)."""
    return attention / (1.0 - to_bos).clamp_min(1e-6)


# -- IOI ---------------------------------------------------------------------------------------


def ioi_data(ctx: ModelContext, n_prompts: int, seed: int) -> PromptSet:
    return memo(ctx, f"ioi:{n_prompts}:{seed}", lambda: ioi_prompts(ctx.view, n_prompts, seed))


def _ioi_attention(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    rows = kernels.attention_rows(pattern, chunk.index["end"])  # [n, h, k]
    picks = torch.stack([chunk.index["io"], chunk.index["s1"], chunk.index["s2"]], dim=1)  # [n, 3]
    return rows.gather(-1, picks[:, None, :].expand(-1, rows.shape[1], -1).to(rows.device))  # [n, h, 3]


def z_at_end(z: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    """Reducer: each head's z (attention-weighted values) at the prompt's final position."""
    rows = torch.arange(z.shape[0], device=z.device)
    return z[rows, chunk.index["end"].to(z.device)]  # [n, h, d_head]


@dataclass
class IOIPass:
    """What one IOI pass (clean or ABC) gives: per prompt and head."""

    attention: torch.Tensor  # [n, layers, heads, 3]: END -> IO, S1, S2
    z: torch.Tensor  # [n, layers, heads, d_head]: each head's z at END
    out: torch.Tensor  # [n, layers, heads, d_model]: each head's write at END
    final_resid: torch.Tensor  # [n, d_model]: the residual stream entering the final norm, at END
    names_resid: torch.Tensor  # [n, 2, d_model]: block 0's output at the IO and S1 positions


def _ioi_pass(ctx: ModelContext, prompts: PromptSet, tokens: torch.Tensor, tag: str,
              patch: Callable[[int], Any] | None = None) -> IOIPass:
    """One batched pass over IOI prompts (``patch(layer)``, if given, returns a hook on that
    layer's z to apply first)."""
    n = len(prompts)
    keep: dict[str, list[torch.Tensor]] = {"att": [], "z": [], "final": [], "names": []}
    for start in range(0, n, ctx.batch_size):
        rows = slice(start, min(n, start + ctx.batch_size))
        chunk = prompts.subset(rows)
        end = chunk.index["end"]
        batch: dict[str, dict[int, torch.Tensor]] = {"att": {}, "z": {}}
        other: dict[str, torch.Tensor] = {}
        hooks: list[tuple[str, Callable[..., Any]]] = []

        def att_hook(layer: int):  # type: ignore[no-untyped-def]
            def hook(p: torch.Tensor, hook: Any) -> None:
                batch["att"][layer] = _ioi_attention(p.detach(), layer, chunk).float().cpu()
            return hook

        def z_hook(layer: int):  # type: ignore[no-untyped-def]
            inner = patch(layer) if patch else None

            def hook(z: torch.Tensor, hook: Any) -> torch.Tensor | None:
                if inner is not None:
                    z = inner(z, rows)
                batch["z"][layer] = z_at_end(z.detach(), layer, chunk).float().cpu()
                return z
            return hook

        def final_hook(x: torch.Tensor, hook: Any) -> None:
            other["final"] = x.detach()[torch.arange(x.shape[0]), end.to(x.device)].float().cpu()

        def names_hook(x: torch.Tensor, hook: Any) -> None:
            picks = torch.stack([chunk.index["io"], chunk.index["s1"]], dim=1).to(x.device)
            other["names"] = x.detach()[torch.arange(x.shape[0])[:, None], picks].float().cpu()

        for layer in range(ctx.n_layers):
            hooks.append((f"blocks.{layer}.attn.hook_pattern", att_hook(layer)))
            hooks.append((f"blocks.{layer}.attn.hook_z", z_hook(layer)))
        hooks.append(("ln_final.hook_in", final_hook))
        hooks.append(("blocks.0.hook_resid_post", names_hook))
        ctx.forward(tokens[rows], hooks, stop_at_layer=ctx.n_layers)
        keep["att"].append(torch.stack([batch["att"][l] for l in range(ctx.n_layers)], dim=1))
        keep["z"].append(torch.stack([batch["z"][l] for l in range(ctx.n_layers)], dim=1))
        keep["final"].append(other["final"])
        keep["names"].append(other["names"])
        if ctx.progress:
            ctx.progress(f"ioi {tag}", min(n, start + ctx.batch_size), n)
    z = torch.cat(keep["z"])  # [n, layers, heads, d_head]
    out = torch.stack([ctx.z_to_out(l, z[:, l]).cpu() for l in range(ctx.n_layers)], dim=1)
    return IOIPass(torch.cat(keep["att"]), z, out, torch.cat(keep["final"]), torch.cat(keep["names"]))


def knockout(ctx: ModelContext, prompts: PromptSet, heads: list[tuple[int, int]], source: IOIPass) -> IOIPass:
    """A clean pass with ``heads``' z at END replaced by their values in ``source`` (e.g. the ABC
    pass): Wang et al.'s knock-out of the name movers before looking for backups."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def patch(layer: int):  # type: ignore[no-untyped-def]
        if layer not in by_layer:
            return None

        def apply(z: torch.Tensor, rows: slice) -> torch.Tensor:
            z = z.clone()
            end = prompts.index["end"][rows].to(z.device)
            idx = torch.arange(z.shape[0], device=z.device)
            for head in by_layer[layer]:
                z[idx, end, head] = source.z[rows, layer, head].to(z)
            return z

        return apply

    key = ",".join(f"{l}.{h}" for l, h in sorted(heads))
    return memo(ctx, f"ioi_knockout:{prompts.fingerprint}:{key}",
                lambda: _ioi_pass(ctx, prompts, prompts.tokens, "knock-out", patch))


def ioi_passes(ctx: ModelContext, prompts: PromptSet) -> tuple[IOIPass, IOIPass]:
    """The clean and the ABC pass over ``prompts`` (memoised)."""
    return memo(ctx, f"ioi_passes:{prompts.fingerprint}", lambda: (
        _ioi_pass(ctx, prompts, prompts.tokens, "clean"),
        _ioi_pass(ctx, prompts, prompts.index["corrupted_tokens"], "abc"),
    ))


def logit_diff(ctx: ModelContext, final_resid: torch.Tensor, prompts: PromptSet) -> torch.Tensor:
    """logit(IO) - logit(S) at END from final residual vectors [n, ..., d_model] (the final norm
    is recomputed on each vector). Returns [n, ...]."""
    logits = ctx.final_logits(final_resid, torch.stack([prompts.index["io_token"], prompts.index["s_token"]], dim=1))
    return logits[..., 0] - logits[..., 1]


def direct_effects(ctx: ModelContext, prompts: PromptSet, clean: IOIPass, corrupt: IOIPass) -> torch.Tensor:
    """Path patching from every head to the logits: each head's write at END replaced by its
    ABC value in the final residual stream only, final norm recomputed. Returns the drop of
    logit(IO) - logit(S) per prompt and head [n, layers, heads] (positive: the head helps)."""
    base = logit_diff(ctx, clean.final_resid, prompts)  # [n]
    patched = clean.final_resid[:, None, None, :] + (corrupt.out - clean.out)  # [n, L, H, d]
    flat = patched.reshape(len(prompts), -1, patched.shape[-1])
    after = torch.stack([logit_diff(ctx, flat[:, j], prompts) for j in range(flat.shape[1])], dim=1)
    return (base[:, None] - after).view(len(prompts), ctx.n_layers, ctx.n_heads)


def copy_scores(ctx: ModelContext, prompts: PromptSet, clean: IOIPass, top_k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Wang et al.'s copy score and negative copy score of every head [layers, heads]: block 0's
    output at each name position (IO and S1 of every prompt), through the head's ln1 and OV
    circuit (b_V kept) and the final norm's linear part into the unembedding; the fraction of
    names that rank among the top ``top_k`` logits (of the negated output, for the negative score)."""
    names = clean.names_resid.reshape(-1, clean.names_resid.shape[-1])
    targets = torch.stack([prompts.index["io_token"], prompts.index["s_token"]], dim=1).reshape(-1)
    copy = torch.empty(ctx.n_layers, ctx.n_heads)
    negative = torch.empty(ctx.n_layers, ctx.n_heads)
    for layer in range(ctx.n_layers):
        logits = ctx.unembed(ctx.head_outputs(layer, names))  # [names, heads, vocab]
        t = targets.to(logits.device)
        copy[layer] = (kernels.rank_of(logits, t) < top_k).float().mean(0).cpu()
        negative[layer] = (kernels.rank_of(logits, t, negated=True) < top_k).float().mean(0).cpu()
    return copy, negative


# -- weight-space reads of single tokens --------------------------------------------------------


def names_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "names", lambda: name_tokens(ctx.view))


def ordinal_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "ordinal", lambda: ordinal_tokens(ctx.view))


# -- factual prompts ----------------------------------------------------------------------------


def factual_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "factual", lambda: factual_prompts(ctx.view))


def _span_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    rows = kernels.attention_rows(pattern, chunk.index["end"])
    return torch.stack(
        [
            kernels.span_mass(rows, chunk.index["subject_mask"].to(rows.device)),
            kernels.span_mass(rows, chunk.index["relation_mask"].to(rows.device)),
            rows[..., 0],
        ],
        dim=-1,
    )  # [n, h, 3]: subject, relation, BOS


def factual_reads(ctx: ModelContext, prompts: PromptSet, top_k: int = 10) -> dict[str, torch.Tensor]:
    """One pass over the factual prompts: attention mass from the last token on the subject span,
    the relation span and BOS [n, layers, heads, 3]; whether the model's own top ``top_k`` has the
    object (``known`` [n]); and each head's direct logits at the last position summarised as
    top-k hits for the object, the subject's tokens, the relation's words, and (for the null)
    another prompt's object and subject [n, layers, heads] each."""

    def build() -> dict[str, torch.Tensor]:
        spans: list[torch.Tensor] = []
        zs: list[torch.Tensor] = []
        known: list[torch.Tensor] = []
        n = len(prompts)
        for start in range(0, n, ctx.batch_size):
            rows = slice(start, min(n, start + ctx.batch_size))
            chunk = prompts.subset(rows)
            got: dict[str, dict[int, torch.Tensor]] = {"s": {}, "z": {}}

            def span_hook(layer: int):  # type: ignore[no-untyped-def]
                def hook(p: torch.Tensor, hook: Any) -> None:
                    got["s"][layer] = _span_reduce(p.detach(), layer, chunk).float().cpu()
                return hook

            def z_hook(layer: int):  # type: ignore[no-untyped-def]
                def hook(z: torch.Tensor, hook: Any) -> None:
                    got["z"][layer] = z_at_end(z.detach(), layer, chunk).float().cpu()
                return hook

            hooks = [(f"blocks.{l}.attn.hook_pattern", span_hook(l)) for l in range(ctx.n_layers)]
            hooks += [(f"blocks.{l}.attn.hook_z", z_hook(l)) for l in range(ctx.n_layers)]
            logits = ctx.logits(prompts.tokens[rows], hooks)
            end_logits = logits[torch.arange(logits.shape[0]), chunk.index["end"].to(logits.device)]
            top = end_logits.topk(top_k, dim=-1).indices.cpu()
            known.append((top == chunk.index["object_token"][:, None]).any(-1))
            spans.append(torch.stack([got["s"][l] for l in range(ctx.n_layers)], dim=1))
            zs.append(torch.stack([got["z"][l] for l in range(ctx.n_layers)], dim=1))
            if ctx.progress:
                ctx.progress("factual", min(n, start + ctx.batch_size), n)
        z = torch.cat(zs)
        tokens = prompts.tokens
        subject_tokens = torch.where(prompts.index["subject_mask"], tokens, torch.full_like(tokens, -1))
        relation_words = prompts.meta["relation_words"]
        width = max(1, max(len(v) for v in relation_words.values()))
        rel_targets = torch.full((n, width), -1, dtype=torch.long)
        for row, rel in enumerate(prompts.index["relation"].tolist()):
            ids = relation_words[prompts.meta["relations"][rel]]
            rel_targets[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        # The nulls' targets: the object and subject of another prompt of the same relation, and
        # the words of another relation.
        other = _derangement_within(prompts.index["relation"], seed=0)
        other_relation = _other_group(prompts.index["relation"], seed=0)
        targets = {
            "object_hit": prompts.index["object_token"][:, None],
            "subject_hit": subject_tokens,
            "relation_hit": rel_targets,
            "object_hit_null": prompts.index["object_token"][other][:, None],
            "subject_hit_null": subject_tokens[other],
            "relation_hit_null": rel_targets[other_relation],
        }
        hits = {k: torch.zeros(n, ctx.n_layers, ctx.n_heads, dtype=torch.bool) for k in targets}
        for layer in range(ctx.n_layers):
            out = ctx.z_to_out(layer, z[:, layer])
            top = ctx.unembed(out).topk(top_k, dim=-1).indices  # [n, heads, k]
            for key, target in targets.items():
                hits[key][:, layer] = kernels.any_in_top(top, target.to(top.device)).cpu()
        return {"spans": torch.cat(spans), "known": torch.cat(known), **hits}

    return memo(ctx, f"factual_reads:{prompts.fingerprint}:{top_k}", build)


def _derangement_within(groups: torch.Tensor, seed: int) -> torch.Tensor:
    """For every row, another row of the same group (a cyclic shift within each group)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.arange(len(groups))
    for g in groups.unique():
        rows = (groups == g).nonzero().flatten()
        if len(rows) > 1:
            rows = rows[torch.randperm(len(rows), generator=gen)]
            out[rows] = rows.roll(1)
    return out


def _other_group(groups: torch.Tensor, seed: int) -> torch.Tensor:
    """For every row, a random row of another group (itself where there is only one group)."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.arange(len(groups))
    for row in range(len(groups)):
        others = (groups != groups[row]).nonzero().flatten()
        if len(others):
            out[row] = others[int(torch.randint(len(others), (1,), generator=gen))]
    return out
