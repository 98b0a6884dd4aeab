"""Training a zoo model from scratch on CPU: Hugging Face model classes, the zoo's word-level
vocabulary, a weighted mixture of synthetic tasks, and checkpoints along the way.

Everything is seeded (model initialisation, task sampling), so a spec trains to the same weights
on the same software stack.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from headdb.zoo import language as lang
from headdb.zoo.tasks import TRAINING, Sample

if TYPE_CHECKING:
    from headdb.zoo.registry import ZooSpec


def hf_config(spec: ZooSpec) -> Any:
    """The Hugging Face config of a spec's architecture, with dropout off."""
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

    vocab = len(lang.vocabulary())
    common = {"vocab_size": vocab, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}
    if spec.architecture == "gpt2":
        return GPT2Config(
            n_positions=spec.n_ctx, n_embd=spec.d_model, n_layer=spec.n_layers, n_head=spec.n_heads,
            n_inner=spec.d_mlp, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common,
        )
    if spec.architecture == "neox":
        return GPTNeoXConfig(
            hidden_size=spec.d_model, num_hidden_layers=spec.n_layers, num_attention_heads=spec.n_heads,
            intermediate_size=spec.d_mlp, max_position_embeddings=spec.n_ctx, rotary_pct=0.25,
            use_parallel_residual=True, hidden_dropout=0.0, attention_dropout=0.0,
            tie_word_embeddings=False, **common,
        )
    if spec.architecture == "llama":
        return LlamaConfig(
            hidden_size=spec.d_model, num_hidden_layers=spec.n_layers, num_attention_heads=spec.n_heads,
            num_key_value_heads=spec.n_kv_heads or spec.n_heads, intermediate_size=spec.d_mlp,
            max_position_embeddings=spec.n_ctx, tie_word_embeddings=True, **common,
        )
    raise ValueError(f"unknown zoo architecture {spec.architecture!r}")


def new_model(spec: ZooSpec) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(spec.seed)
    return AutoModelForCausalLM.from_config(hf_config(spec))


def batch(samples: list[Sample], index: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [b, t] and a float mask [b, t-1] of the scored next-token predictions."""
    length = max(len(s.words) for s in samples)
    ids = torch.zeros(len(samples), length, dtype=torch.long)
    mask = torch.zeros(len(samples), length)
    for row, sample in enumerate(samples):
        ids[row, : len(sample.words)] = torch.tensor([index[w] for w in sample.words])
        mask[row, : len(sample.scored)] = torch.tensor(sample.scored, dtype=torch.float)
    return ids, mask[:, :-1]


def _lr(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps, constant, then a linear decay over the last 20%:
    in-context copying forms during the long constant phase."""
    warmup, decay = max(1, total // 20), max(1, total // 5)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * min(1.0, (total - step) / decay)


def checkpoint_steps(spec: ZooSpec) -> list[int]:
    """Steps whose weights are kept (the last is the final model): evenly spaced."""
    n = spec.checkpoints
    return sorted({round(spec.steps * (i + 1) / n) for i in range(n)}) if n else [spec.steps]


def train(
    spec: ZooSpec,
    save: Callable[[torch.nn.Module, int], None],
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, float]:
    """Train ``spec`` from its seed, calling ``save(model, step)`` at every checkpoint step.
    Returns the final training loss per task (mean over the last 5% of steps)."""
    index = {w: i for i, w in enumerate(lang.vocabulary())}
    rng = random.Random(spec.seed)
    tasks, weights = zip(*spec.tasks.items(), strict=True)
    model = new_model(spec)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    keep = set(checkpoint_steps(spec))
    recent: dict[str, list[float]] = {t: [] for t in tasks}
    tail = max(1, spec.steps // 20)
    started = time.perf_counter()
    for step in range(1, spec.steps + 1):
        chosen = rng.choices(tasks, weights, k=spec.batch_size)
        samples = [TRAINING[t](rng) for t in chosen]
        ids, mask = batch(samples, index)
        logits = model(ids).logits[:, :-1]
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view_as(mask)
        loss = (losses * mask).sum() / mask.sum()
        for group in optimiser.param_groups:
            group["lr"] = _lr(step - 1, spec.steps, spec.lr)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if step > spec.steps - tail:
            per_row = ((losses * mask).sum(1) / mask.sum(1).clamp_min(1)).tolist()
            for task, value in zip(chosen, per_row, strict=True):
                recent[task].append(value)
        if step in keep:
            model.eval()
            save(model, step)
            model.train()
        if step % max(1, spec.steps // 10) == 0:
            log(f"{spec.name}: step {step}/{spec.steps}, loss {loss.item():.3f}, {time.perf_counter() - started:.0f} s")
    return {t: sum(v) / len(v) for t, v in recent.items() if v}


def save_hf(model: torch.nn.Module, directory: Path) -> None:
    """Weights and config in Hugging Face format, plus the zoo tokenizer and probe file."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    lang.write_tokenizer(directory)
    lang.write_probes(directory)
