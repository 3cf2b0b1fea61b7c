"""split_eval_transform: uint8 items + one batch normalisation give exactly the original values."""

import numpy as np
import pytest
import torch
from open_clip import image_transform
from PIL import Image
from torchvision import transforms as T

from cyclip.data import build_eval_loader
from cyclip.data.batch_normalize import BatchNormalize, split_eval_transform, stack_items


def _images(n: int = 6, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(32, 32), (64, 48), (17, 90), (300, 200), (64, 64), (5, 7)]
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        for w, h in (sizes * n)[:n]
    ]


@pytest.mark.parametrize("size", [32, 64, 224])
def test_open_clip_eval_transform_is_split_bit_for_bit(size):
    preprocess = image_transform(size, is_train=False)
    item, finish = split_eval_transform(preprocess)
    assert finish is not None
    images = _images()
    expected = torch.stack([preprocess(im) for im in images])
    items = [item(im) for im in images]
    assert all(t.dtype == torch.uint8 for t in items)
    assert torch.equal(finish(stack_items(items, finish)), expected)


def test_torchvision_to_tensor_normalize_is_split_too():
    preprocess = T.Compose([T.Resize(40), T.CenterCrop(40), T.ToTensor(), T.Normalize(0.5, 0.25)])
    item, finish = split_eval_transform(preprocess)
    assert finish == BatchNormalize((0.5,), (0.25,))
    images = _images()
    assert torch.equal(
        finish(torch.stack([item(im) for im in images])),
        torch.stack([preprocess(im) for im in images]),
    )


def test_arrays_and_other_modes_are_finished_per_item_in_a_mixed_batch():
    preprocess = T.Compose([T.ToTensor(), T.Normalize((0.1,) * 3, (0.3,) * 3)])
    item, finish = split_eval_transform(preprocess)
    rgb = _images(1)[0].resize((16, 16))
    array = np.asarray(rgb.rotate(90))  # (H, W, 3) uint8: ToTensor's ndarray branch
    ycbcr = rgb.convert("YCbCr")  # 3 uint8 channels, but not RGB
    items = [item(rgb), item(array), item(ycbcr)]
    assert [t.dtype for t in items] == [torch.uint8, torch.float32, torch.float32]
    mixed = stack_items(items, finish)
    assert mixed.dtype == torch.float32
    for got, source in zip(mixed, (rgb, array, ycbcr), strict=True):
        assert torch.equal(got, preprocess(source))


@pytest.mark.parametrize(
    "preprocess",
    [
        lambda im: torch.zeros(3, 4, 4),
        T.Compose([T.ToTensor()]),
        T.Compose([T.Normalize(0.5, 0.5), T.ToTensor()]),
        T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (1.0, 0.0, 1.0))]),
    ],
    ids=["function", "no-normalize", "wrong-order", "zero-std"],
)
def test_transforms_that_do_not_end_in_to_tensor_normalize_are_kept_whole(preprocess):
    item, finish = split_eval_transform(preprocess)
    assert item is preprocess and finish is None


def test_batch_normalize_refuses_float_input():
    with pytest.raises(TypeError, match="uint8"):
        BatchNormalize((0.5,), (0.5,))(torch.zeros(1, 3, 2, 2))


class _Pictures(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": i}


@pytest.mark.parametrize("workers", [0, 1])
def test_eval_loader_batches_equal_the_transform_applied_per_image(workers):
    preprocess = image_transform(32, is_train=False)
    images = _images(7)
    batches = list(build_eval_loader(_Pictures(images), preprocess, batch_size=3, workers=workers))
    got = torch.cat([b["images"] for b in batches])
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.stack([preprocess(im) for im in images]))
    assert torch.cat([b["labels"] for b in batches]).tolist() == list(range(7))
