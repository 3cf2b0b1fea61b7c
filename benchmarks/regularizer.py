"""Regulariser scaling: naive vs Gram-form cyclic terms (and the official code's formula).

Each (method, N) runs forward + backward of both cyclic terms in a fresh subprocess so that its
peak resident memory can be read from the OS; time is the median of repeated runs inside it.

    python benchmarks/regularizer.py --sizes 256 1024 4096 16384 --dim 512
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from cyclip.losses import (
    crossmodal_cyclic_loss_naive,
    crossmodal_from_grams,
    cyclic_grams,
    inmodal_cyclic_loss_naive,
    inmodal_from_grams,
)

IMPLEMENTATIONS = ("gram", "naive", "official")  # the two of cyclip.losses + the official code
BYTES_PER_NxN = 4
NO_WARMUP_FROM = 8192


def official(i: torch.Tensor, t: torch.Tensor, scale: float = 1 / 0.07) -> torch.Tensor:
    """The official CyCLIP code's formula: scaled logits, .mean(), divided by s², times N."""
    n = i.shape[0]
    logits_ii, logits_tt = scale * i @ i.T, scale * t @ t.T
    logits_it = scale * i @ t.T
    inmodal = (logits_ii - logits_tt).square().mean() / scale**2 * n
    crossmodal = (logits_it - logits_it.T).square().mean() / scale**2 * n
    return inmodal + crossmodal


def step(method: str, i: torch.Tensor, t: torch.Tensor) -> None:
    if method == "official":
        value = official(i, t)
    elif method == "gram":
        # As CyCLIPLoss does: one set of Gram matrices serves both terms.
        grams = cyclic_grams(i, t)
        n = i.shape[0]
        value = inmodal_from_grams(grams, n, "paper") + crossmodal_from_grams(grams, n, "paper")
    else:
        value = inmodal_cyclic_loss_naive(i, t, "paper") + crossmodal_cyclic_loss_naive(
            i, t, "paper"
        )
    value.backward()


def measure_one(method: str, n: int, d: int, repeats: int) -> dict:
    """Runs inside the subprocess: times and peak RSS of forward+backward."""
    g = torch.Generator().manual_seed(0)
    # Inputs and their gradients are what any method needs: allocate them without temporaries
    # and count only what the regulariser adds on top (the current RSS is the baseline).
    i, t = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    i.div_(i.norm(dim=-1, keepdim=True)).requires_grad_()
    t.div_(t.norm(dim=-1, keepdim=True)).requires_grad_()
    i.grad, t.grad = torch.zeros_like(i), torch.zeros_like(t)
    # Thread pools and BLAS workspaces are set up once per process whatever the method.
    small_i, small_t = i[:64].detach().requires_grad_(), t[:64].detach().requires_grad_()
    step(method, small_i, small_t)
    base_mib = current_rss_mib()
    reset_peak_rss()
    # A warm-up run first, except where one run takes long enough that set-up costs vanish.
    warmup = 1 if n < NO_WARMUP_FROM else 0
    times = []
    for _ in range(repeats + warmup):
        t0 = time.perf_counter()
        step(method, i, t)
        times.append(time.perf_counter() - t0)
    extra = peak_rss_mib() - base_mib
    return {"method": method, "n": n, "d": d, "time_s": times[warmup:], "extra_mib": extra}


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS.

    Without it the peak would include the parent's: Linux carries ``ru_maxrss`` over fork+exec,
    so a child of a large process (the harness) reports the parent's size as its own peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # not Linux, or not allowed: peak_rss_mib falls back to ru_maxrss


def peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(method: str, n: int, d: int, repeats: int, max_mem_gib: float) -> dict:
    needed_gib = 6 * n * n * BYTES_PER_NxN / 2**30 if method != "gram" else 0.0
    if needed_gib > max_mem_gib:
        return {"method": method, "n": n, "d": d, "skipped": f"needs ~{needed_gib:.0f} GiB"}
    cmd = [sys.executable, __file__, "--child", method, str(n), str(d), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["median_s"] = statistics.median(result["time_s"])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        method, n, d, repeats = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(measure_one(method, n, d, repeats)))
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096, 16384, 32768])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-mem-gib", type=float, default=18.0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    for n in args.sizes:
        for method in IMPLEMENTATIONS:
            row = run(method, n, args.dim, args.repeats, args.max_mem_gib)
            rows.append(row)
            if "skipped" in row:
                print(f"N={n:>6} {method:<8} skipped ({row['skipped']})", flush=True)
            else:
                print(
                    f"N={n:>6} {method:<8} {row['median_s'] * 1e3:9.1f} ms  "
                    f"peak +{row['extra_mib']:8.1f} MiB",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
