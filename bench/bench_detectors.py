"""Benchmark: the default detector suite on a GPT-2-small-sized model (random weights) against one
forward plus backward pass over every unique prompt the suite reads, in the same run.

Prints the suite's total and per-detector times, the unique prompts and tokens, the time of one
forward + backward pass over them (logits and a cross-entropy loss, gradients for every
parameter, in batches of the same size), their ratio (target: <= 2), and peak memory.

    .venv/bin/python bench/bench_detectors.py [--device cpu|cuda] [--batch-size N]

Needs the GPT-2 tokenizer from ../shared/models/gpt2-tokenizer (or --tokenizer DIR).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_model(directory: Path, tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
    GPT2LMHeadModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(directory)


def unique_prompts(ctx) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    """Every distinct token row the suite's datasets hold (clean, control and corrupted sets),
    without trailing padding."""
    from headdb.detectors.datasets import PromptSet

    rows: dict[tuple[int, ...], torch.Tensor] = {}
    for value in ctx.memo.values():
        if not isinstance(value, PromptSet) or value.tokens.shape[1] < 2:
            continue  # single-token sets (names, ordinals) are read from the weights, not run
        sets = [value.tokens] + [v for k, v in value.index.items() if k in ("control_tokens", "corrupted_tokens")]
        for tokens in sets:
            for row in tokens:
                trimmed = row[: int((row != ctx.view.pad_id).nonzero().max()) + 1] if (row != ctx.view.pad_id).any() else row
                rows[tuple(trimmed.tolist())] = trimmed
    return list(rows.values())


def forward_backward(bridge, prompts: list[torch.Tensor], batch_size: int, device: str) -> float:  # type: ignore[no-untyped-def]
    from headdb.detectors.datasets.tokens import pad_batch

    model = bridge.original_model
    model.requires_grad_(True)
    ordered = sorted(prompts, key=len)  # similar lengths per batch, as a training loop would
    t = time.perf_counter()
    for start in range(0, len(ordered), batch_size):
        batch = [p.tolist() for p in ordered[start : start + batch_size]]
        tokens = pad_batch(batch, 0).to(device)
        logits = model(tokens).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    model.requires_grad_(False)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: from free memory")
    parser.add_argument("--tokenizer", default=str(REPO.parent / "shared" / "models" / "gpt2-tokenizer"))
    args = parser.parse_args()

    from transformer_lens.model_bridge import TransformerBridge

    from headdb.detectors import REGISTRY, ModelContext, default_suite

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_model(Path(tmp), Path(args.tokenizer))
        bridge = TransformerBridge.boot_transformers(tmp, device=args.device)
        print(f"model: GPT-2-small shape (12 layers x 12 heads, d_model 768, vocab 50257), random weights, "
              f"{args.device}; built and loaded in {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}")
    rss_loaded = peak_rss_mib()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    ctx = ModelContext(bridge, batch_size=args.batch_size)
    times: dict[str, float] = {}
    t_suite = time.perf_counter()
    for name in default_suite():
        detector = REGISTRY[name]()
        t = time.perf_counter()
        if detector.applicable(ctx) is None:
            detector.score(ctx)
        times[name] = time.perf_counter() - t
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    suite = time.perf_counter() - t_suite
    rss_suite = peak_rss_mib()
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None

    prompts = unique_prompts(ctx)
    n_tokens = sum(len(p) for p in prompts)
    baseline = forward_backward(bridge, prompts, ctx.batch_size, args.device)

    print(f"\nbatch size {ctx.batch_size} ({'given' if args.batch_size else 'from free memory'})")
    print(f"default suite ({len(times)} detectors): {suite:.2f} s")
    for name, seconds in times.items():
        print(f"  {name:<18}{seconds:>8.2f} s")
    print(f"unique prompts the suite reads: {len(prompts)} ({n_tokens} tokens)")
    print(f"one forward + backward pass over them: {baseline:.2f} s")
    print(f"ratio suite / (forward + backward): {suite / baseline:.2f} (target <= 2)")
    print(f"peak RSS: {rss_loaded:.0f} MiB with the model loaded, {rss_suite:.0f} MiB after the suite "
          f"(+{rss_suite - rss_loaded:.0f} MiB)" + (f"; GPU peak allocated {gpu_peak:.0f} MiB" if gpu_peak else ""))


if __name__ == "__main__":
    main()
