"""Splitting an evaluation transform so its float work happens once per batch, not per image.

open_clip's evaluation transform (and most torchvision pipelines) ends with ``ToTensor`` +
``Normalize``: per image, a uint8 -> float copy, a division by 255 and a normalisation, and the
float tensor (4 bytes per value) is what a DataLoader worker pickles back to the main process.
:func:`split_eval_transform` cuts the transform before those two steps: items leave the workers
as uint8 ``(3, H, W)`` tensors and :class:`BatchNormalize` converts the whole batch in the main
process with the same element-wise float32 operations in the same order, so every value is bit
for bit what the original transform gives (``tests/data/test_batch_normalize.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import Compose, Normalize, ToTensor
from torchvision.transforms import functional as TF


@dataclass(frozen=True)
class BatchNormalize:
    """uint8 images ``(..., C, H, W)`` -> float ``x / 255``, then ``(x - mean) / std`` per channel:
    what ``ToTensor`` + ``Normalize`` do to one image, on any number of them at once."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"BatchNormalize expects uint8 images, got {images.dtype}")
        x = images.to(torch.get_default_dtype()).div_(255)  # in place: one float copy in all
        mean = torch.as_tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return x.sub_(mean).div_(std)


class _ToUint8:
    """The item side of the split: an RGB PIL image -> ``(3, H, W)`` uint8; anything else
    (another mode, an ndarray, a tensor) goes through the original ``ToTensor`` + ``Normalize``
    and comes out finished, as float."""

    def __init__(self, tail: Compose) -> None:
        self.tail = tail

    def __call__(self, pic: object) -> Tensor:
        if isinstance(pic, Image.Image) and pic.mode == "RGB":
            return TF.pil_to_tensor(pic)
        return self.tail(pic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(else {self.tail!r})"


def split_eval_transform(
    preprocess: Callable[[Image.Image], Tensor],
) -> tuple[Callable[[Image.Image], Tensor], BatchNormalize | None]:
    """``(per-item transform, batch finish)`` such that ``finish(stack(item(img) ...))`` equals
    ``stack(preprocess(img) ...)`` exactly.

    A ``Compose`` ending with ``ToTensor`` (or a subclass, such as open_clip's ``MaybeToTensor``)
    and ``Normalize`` is split before those two; any other transform is returned whole with
    ``None``: its items are already final.
    """
    steps = getattr(preprocess, "transforms", None)
    if not isinstance(preprocess, Compose) or not isinstance(steps, Sequence) or len(steps) < 2:
        return preprocess, None
    *head, to_tensor, normalize = steps
    if not isinstance(to_tensor, ToTensor) or type(normalize) is not Normalize:
        return preprocess, None
    mean, std = _channels(normalize.mean), _channels(normalize.std)
    if len(mean) != len(std) or 0.0 in std:
        return preprocess, None  # let Normalize itself raise or broadcast as it does
    item = Compose([*head, _ToUint8(Compose([to_tensor, normalize]))])
    return item, BatchNormalize(mean, std)


def _channels(values: Sequence[float] | float | Tensor) -> tuple[float, ...]:
    return tuple(float(v) for v in torch.as_tensor(values, dtype=torch.float64).flatten())


def stack_items(images: Sequence[Tensor], finish: BatchNormalize | None) -> Tensor:
    """Stack one batch's item tensors: uint8 when every item is uint8 and ``finish`` will run on
    the batch later; otherwise each uint8 item is finished here, so the batch is all float."""
    if finish is None or all(t.dtype == torch.uint8 for t in images):
        return torch.stack(list(images))
    return torch.stack([finish(t) if t.dtype == torch.uint8 else t for t in images])
