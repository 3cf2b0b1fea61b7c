"""How fast the builtin world renders, so the benchmarks can check it never starves training."""

from __future__ import annotations

import time

from cyclip.world import load_classification, load_pairs, load_retrieval
from cyclip.world.datasets import WorldDataset
from cyclip.world.tasks import resolve


def render_throughput(n: int = 2000, size: int = 64, task: str = "shapes/pretrain") -> float:
    """Items per second produced by ``dataset[i]`` of ``task`` on the calling thread.

    Counts the whole item (scene sampling, rendering, caption or label) at ``size`` pixels. Mask
    caches are warmed on items past the timed range first, so the number is the steady state a
    DataLoader worker reaches. Rendering is single-threaded numpy/PIL: the result is per core.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    kind = resolve(task).kind
    total = 2 * n
    dataset: WorldDataset
    if kind == "pairs":
        dataset = load_pairs(task, size=total, image_size=size)
    elif kind == "retrieval":
        dataset = load_retrieval(task, image_size=size, size=total)
    else:
        dataset, _ = load_classification(task, image_size=size, size=total)
    for i in range(n, total):
        dataset[i]
    start = time.perf_counter()
    for i in range(n):
        dataset[i]
    return n / (time.perf_counter() - start)
