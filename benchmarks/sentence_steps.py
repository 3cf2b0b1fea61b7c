"""Step-time overhead of each sentence term over CyCLIP alone, side by side in one run.

Full training steps (forward, loss, backward, AdamW) on a fixed synthetic batch, the variants
alternating step by step (see :mod:`benchmarks.steps`), each variant's time the median of its
timed steps:

- ``cyclip``: CyCLIP (lambdas 0.25, "mean");
- ``cyclip + unsup SimCSE``: plus two dropout views of every caption (2B extra text rows);
- ``cyclip + sup SimCSE``: plus a batch of NLI triplets (3b extra text rows; b = ``--nli-batch``).

    PYTHONPATH=src python benchmarks/sentence_steps.py --model cyclip-small --batch 64

Prints one Markdown table row per variant with the ratio to CyCLIP, and ``uptime``'s load (the
machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import steps  # noqa: E402

from cyclip.losses import CyCLIPLoss, SentenceObjective  # noqa: E402
from cyclip.train.setup import configure_backends  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cyclip-small")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--nli-batch", type=int, default=None, help="default: --batch")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    nli_batch = args.nli_batch or args.batch
    dev = torch.device(args.device)
    configure_backends(False, dev)
    torch.manual_seed(0)
    variants = {
        "cyclip": CyCLIPLoss(**steps.CYCLIP),
        "cyclip + unsup SimCSE": SentenceObjective(CyCLIPLoss(**steps.CYCLIP), "unsupervised"),
        "cyclip + sup SimCSE": SentenceObjective(CyCLIPLoss(**steps.CYCLIP), "supervised"),
    }
    fns = {}
    for name, loss in variants.items():
        step, shapes = steps.make_step(args.model, loss, args.precision, dev)  # type: ignore[arg-type]
        data = steps.synthetic_batch(shapes["image_size"], shapes["context_length"], args.batch)
        nli = steps.synthetic_batch(8, shapes["context_length"], 3 * nli_batch, seed=1)
        data = {**data, "nli_texts": nli["texts"]}
        fns[name] = lambda step=step, data=data: step([data], 1e-4)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = steps.interleaved_step_times(fns, args.steps, args.warmup, sync)
    base = statistics.median(times["cyclip"])
    load = os.getloadavg()
    print(
        f"{args.model}, batch {args.batch} (NLI {nli_batch} triplets), {args.precision}, "
        f"{args.device}, {args.steps} interleaved steps; load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}\n"
    )
    print("| objective | step (median s) | x CyCLIP |")
    print("|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.4f} | {med / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
