"""Per-item random streams that are identical on every machine, Python version and worker.

Each item of a task draws from its own stream, seeded by a hash of (world version, stream name,
index), so item ``i`` is the same whatever order items are requested in and whichever DataLoader
worker renders it. Only ``random.Random.random()`` is used: it is the one method whose sequence
Python guarantees across versions for an integer seed (``choice``, ``randrange`` and friends have
changed between releases).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_seed(*parts: str | int) -> int:
    """A 64-bit seed from a path of names and numbers, e.g. ``("shapes-v1", "pretrain", 17)``."""
    key = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


class ItemRng:
    """A small random API over one reproducible uniform stream."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def uniform(self, low: float, high: float) -> float:
        """A float in [low, high)."""
        return low + (high - low) * self._random()

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        if n <= 0:
            raise ValueError(f"below() needs n > 0, got {n}")
        return min(int(self._random() * n), n - 1)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self._random() < p

    def choice(self, options: Sequence[T]) -> T:
        """One element of a non-empty sequence, uniformly."""
        return options[self.below(len(options))]

    def weighted(self, options: Sequence[T], weights: Sequence[float]) -> T:
        """One element of ``options`` with probability proportional to ``weights``."""
        u = self._random() * sum(weights)
        for option, w in zip(options, weights, strict=True):
            u -= w
            if u < 0:
                return option
        return options[-1]

    def sample(self, options: Sequence[T], k: int) -> list[T]:
        """``k`` distinct elements in random order (partial Fisher-Yates)."""
        pool = list(options)
        if not 0 <= k <= len(pool):
            raise ValueError(f"cannot sample {k} of {len(pool)} options")
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def seed(self) -> int:
        """A fresh 64-bit seed for a sub-stream (e.g. texture noise)."""
        return int(self._random() * 2**53)
