"""Compact, fork-friendly storage for millions of strings (paths, captions).

A Python list of 3M strings is 3M refcounted objects; DataLoader workers touch their refcounts and
so copy the pages on write, multiplying memory by the number of workers. Two numpy arrays do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

# surrogateescape round-trips bytes that are not UTF-8 (e.g. file names on POSIX) unchanged.
_ERRORS = "surrogateescape"


class PackedStrings(Sequence[str]):
    """An immutable sequence of strings stored as one UTF-8 buffer plus offsets."""

    def __init__(self, strings: Iterable[str]) -> None:
        encoded = [s.encode("utf-8", _ERRORS) for s in strings]
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)  # (N + 1,)
        np.cumsum([len(b) for b in encoded], out=self._offsets[1:])
        self._buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8)  # (total bytes,)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} strings")
        start, end = self._offsets[index], self._offsets[index + 1]
        return self._buffer[start:end].tobytes().decode("utf-8", _ERRORS)

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))
