"""Benchmark: the full detector suite on a GPT-2-small-sized model (random weights), on CPU.

Prints total time, time per detector (each alone, in a fresh context, and within the shared
suite), peak memory, and the speed ratio against TransformerLens's own
``head_detector.detect_head`` for the three attention-pattern detectors on the same prompts.

    .venv/bin/python bench/bench_detectors.py [--prompts 32] [--half-length 50]

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


def word_prompts(tokenizer, n_prompts: int, half_length: int, seed: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Repeated random-word strings that re-tokenize to one token per word, so TransformerLens's
    string-based detect_head and headdb see exactly the same token ids."""
    candidates = sorted(t[1:] for t in tokenizer.get_vocab() if t.startswith("Ġ") and t[1:].isalpha() and t[1:].islower())
    # Keep words that encode back to exactly one token: the byte-level pre-tokenizer splits on
    # spaces, so a sequence of such words round-trips token for token.
    vocab = [w for w in candidates if len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) == 1]
    gen = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(n_prompts):
        words = [vocab[i] for i in torch.randperm(len(vocab), generator=gen)[:half_length].tolist()]
        text = " " + " ".join(words + words)
        assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) == 2 * half_length
        prompts.append(text)
    return prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--half-length", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tokenizer", default=str(REPO.parent / "shared" / "models" / "gpt2-tokenizer"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    from transformer_lens import head_detector
    from transformer_lens.model_bridge import TransformerBridge

    from headdb.detectors import REGISTRY, ModelContext
    from headdb.detectors.datasets import PromptSet
    from headdb.detectors.shared import repeated_attention

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_model(Path(tmp), Path(args.tokenizer))
        bridge = TransformerBridge.boot_transformers(tmp, device="cpu")
        print(f"model: GPT-2-small shape (12 layers x 12 heads, d_model 768, vocab 50257), random weights; "
              f"built and loaded in {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}")
    rss_loaded = peak_rss_mib()

    # -- the full suite, shared passes --------------------------------------------------------
    ctx = ModelContext(bridge, batch_size=args.batch_size)
    shared_times: dict[str, float] = {}
    t_suite = time.perf_counter()
    for name in sorted(REGISTRY):
        detector = REGISTRY[name]()
        t = time.perf_counter()
        if detector.applicable(ctx) is None:
            detector.score(ctx)
        shared_times[name] = time.perf_counter() - t
    total = time.perf_counter() - t_suite
    rss_suite = peak_rss_mib()

    # -- each detector alone (fresh context: pays for its own passes) -------------------------
    alone: dict[str, float] = {}
    for name in sorted(REGISTRY):
        fresh = ModelContext(bridge, batch_size=args.batch_size)
        detector = REGISTRY[name]()
        t = time.perf_counter()
        detector.score(fresh)
        alone[name] = time.perf_counter() - t

    print(f"\nfull suite (8 detectors, 9 head types): {total:.2f} s total")
    print(f"{'detector':<18}{'in suite (s)':>14}{'alone (s)':>12}")
    for name in sorted(REGISTRY):
        print(f"{name:<18}{shared_times[name]:>14.2f}{alone[name]:>12.2f}")
    print(f"peak RSS: {rss_loaded:.0f} MiB once the model is in memory, {rss_suite:.0f} MiB after the suite "
          f"(+{rss_suite - rss_loaded:.0f} MiB)")

    # -- against TransformerLens's detect_head, identical prompts -----------------------------
    prompts = word_prompts(bridge.tokenizer, args.prompts, args.half_length, seed=0)
    tokens = bridge.to_tokens(prompts)  # BOS prepended, as detect_head does
    n, length = tokens.shape
    assert length == 1 + 2 * args.half_length and bool((tokens[:, 0] == bridge.tokenizer.bos_token_id).all())
    half = args.half_length
    second = torch.arange(1 + half, 1 + 2 * half)
    first = torch.arange(2, 1 + 2 * half)
    index = {
        "prev_query": first.expand(n, -1), "prev_key": (first - 1).expand(n, -1),
        "dup_query": second.expand(n, -1), "dup_key": (second - half).expand(n, -1),
        "ind_query": second.expand(n, -1), "ind_key": (second - half + 1).expand(n, -1),
    }
    data = PromptSet("bench_prompts", tokens, {k: v.contiguous() for k, v in index.items()})
    t = time.perf_counter()
    ours = repeated_attention(ModelContext(bridge, batch_size=args.batch_size), data)
    t_ours = time.perf_counter() - t

    t = time.perf_counter()
    theirs = {
        kind: head_detector.detect_head(bridge, prompts, f"{kind}_head", exclude_bos=True)
        for kind in ("previous_token", "duplicate_token", "induction")
    }
    t_theirs = time.perf_counter() - t
    print(f"\nattention-pattern detectors on {n} prompts of {length} tokens:")
    print(f"  headdb (one batched pass, hooks reduce patterns at once): {t_ours:.2f} s")
    print(f"  TransformerLens detect_head x3 (a cached pass per prompt and type): {t_theirs:.2f} s")
    print(f"  ratio: headdb is {t_theirs / t_ours:.1f}x faster")
    for ours_key, kind in (("prev", "previous_token"), ("dup", "duplicate_token"), ("ind", "induction")):
        a, b = ours[ours_key].flatten(), theirs[kind].flatten().float()
        corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
        print(f"  {kind:<15} score correlation with detect_head: {corr:.3f} "
              "(definitions differ: detect_head also counts first-copy queries)")


if __name__ == "__main__":
    main()
