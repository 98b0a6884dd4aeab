"""Benchmark: circuit discovery by EAP and EAP-IG on a GPT-2-small-sized model (random weights) on
IOI, against one forward plus backward pass over the same prompts, in the same run.

Prints the attribution time of EAP and of EAP-IG (5 steps by default), the time of one forward +
backward pass over the clean prompts (logits, a cross-entropy loss, gradients for every
parameter, in batches of the same size), the ratios (target for EAP-IG: <= 10) and the edge count.
Random weights cost the same arithmetic as trained ones; the circuits they give mean nothing.

    .venv/bin/python bench/bench_circuits.py [--prompts 100] [--steps 5] [--device cpu|cuda]

Needs the GPT-2 tokenizer from ../shared/models/gpt2-tokenizer (or --tokenizer DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5, help="EAP-IG steps (default 5)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: from free memory")
    parser.add_argument("--tokenizer", default=str(REPO.parent / "shared" / "models" / "gpt2-tokenizer"))
    args = parser.parse_args()

    from bench_detectors import build_model, forward_backward
    from transformer_lens.model_bridge import TransformerBridge

    from headdb.circuits.attribution import attribute, graph_of
    from headdb.circuits.tasks import build_task
    from headdb.detectors import ModelContext

    with tempfile.TemporaryDirectory() as tmp:
        build_model(Path(tmp), Path(args.tokenizer))
        bridge = TransformerBridge.boot_transformers(tmp, device=args.device)
    ctx = ModelContext(bridge, batch_size=args.batch_size)
    task = build_task(ctx.view, "ioi", args.prompts, 0)
    graph = graph_of(ctx)
    print(f"model: GPT-2-small shape (12 x 12 heads, d_model 768), random weights, {args.device}, "
          f"torch threads {torch.get_num_threads()}; IOI, {len(task)} prompt pairs of {task.clean.shape[1]} tokens; "
          f"{graph.n_edges:,} edges; batch size {ctx.batch_size}")

    times = {}
    for method in ("eap", "eap-ig"):
        t = time.perf_counter()
        attribute(ctx, task, graph, method, args.steps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times[method] = time.perf_counter() - t
    baseline = forward_backward(bridge, list(task.clean), ctx.batch_size, args.device)

    print(f"EAP:                 {times['eap']:.2f} s")
    print(f"EAP-IG ({args.steps} steps):     {times['eap-ig']:.2f} s (target <= 60 s on 2 CPU cores for 100 prompts)")
    print(f"forward + backward:  {baseline:.2f} s")
    print(f"ratio EAP / (forward + backward):    {times['eap'] / baseline:.1f}")
    print(f"ratio EAP-IG / (forward + backward): {times['eap-ig'] / baseline:.1f} (target <= 10)")


if __name__ == "__main__":
    main()
