"""Map-style training order: distributed == single process, exact resume, per-(seed, epoch) determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import coloured_image, index_tokenizer, red_channel
from PIL import Image
from torch.utils.data import Dataset

from cyclip.data.augment import image_policy
from cyclip.data.collate import PairCollator, PairTransform
from cyclip.data.sampling import EpochBatchSampler, epoch_permutation
from cyclip.data.train_loader import MapTrainLoader


class CountingPairs(Dataset):
    """``{"image", "caption": "item i"}`` that counts how many items were loaded."""

    def __init__(self, n: int, textured: bool = False) -> None:
        self.n = n
        self.textured = textured
        self.loaded = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        self.loaded += 1
        if self.textured:  # random crops of a flat colour would all look alike
            pixels = np.random.default_rng(i).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
            return {"image": Image.fromarray(pixels), "caption": f"item {i}"}
        return {"image": coloured_image(i, size=4), "caption": f"item {i}"}


def _loader(
    dataset, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0, transform=None
):
    transform = transform or PairTransform(red_channel)
    return MapTrainLoader(
        dataset,
        transform,
        PairCollator(index_tokenizer, transform),
        batch_size=batch_size,
        rank=rank,
        world_size=world_size,
        seed=seed,
        workers=0,
    )


def _epoch(loader, epoch: int, start_batch: int = 0) -> list[dict]:
    loader.set_epoch(epoch, start_batch)
    return list(loader)


def _ids(batch: dict) -> list[int]:
    return batch["texts"][:, 0].tolist()


def test_two_ranks_concatenated_equal_one_rank_with_double_batch() -> None:
    data = CountingPairs(103)  # not a multiple of the global batch: the partial one is dropped
    single = _loader(data, batch_size=10)
    ranks = [_loader(data, batch_size=5, rank=r, world_size=2) for r in range(2)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 10
    for epoch in range(3):
        expected = _epoch(single, epoch)
        per_rank = [_epoch(r, epoch) for r in ranks]
        for k, batch in enumerate(expected):
            joined = torch.cat([per_rank[0][k]["texts"], per_rank[1][k]["texts"]])
            assert torch.equal(joined, batch["texts"])
            assert torch.equal(
                torch.cat([per_rank[0][k]["images"], per_rank[1][k]["images"]]), batch["images"]
            )


def test_augmented_views_are_also_rank_invariant(tiny_bundle) -> None:
    # Per-item seeds depend on (seed, epoch, index) only: random crops agree across layouts too.
    transform = PairTransform(tiny_bundle.preprocess_train, image_augment=image_policy())
    data = CountingPairs(16, textured=True)
    single = _epoch(_loader(data, 8, transform=transform), 1)
    parts = [
        _epoch(_loader(data, 4, rank=r, world_size=2, transform=transform), 1) for r in range(2)
    ]
    for k, batch in enumerate(single):
        for key in ("images", "images_aug"):
            assert torch.equal(torch.cat([parts[0][k][key], parts[1][k][key]]), batch[key])


def test_resume_gives_the_remaining_batches_without_loading_the_skipped_ones() -> None:
    data = CountingPairs(60)
    loader = _loader(data, batch_size=6, rank=1, world_size=2)
    full = _epoch(loader, 2)
    data.loaded = 0
    rest = _epoch(loader, 2, start_batch=3)
    assert [_ids(b) for b in rest] == [_ids(b) for b in full[3:]]
    assert data.loaded == 6 * len(rest)  # batches 0..2 never touched the dataset


def test_order_is_a_function_of_seed_and_epoch() -> None:
    data = CountingPairs(40)
    a, b = _loader(data, 8, seed=3), _loader(data, 8, seed=3)
    e0 = [_ids(x) for x in _epoch(a, 0)]
    assert e0 == [_ids(x) for x in _epoch(b, 0)]
    assert e0 != [_ids(x) for x in _epoch(a, 1)]
    assert e0 != [_ids(x) for x in _epoch(_loader(data, 8, seed=4), 0)]
    assert sorted(sum(e0, [])) == list(range(40))  # a permutation: every item exactly once
    assert sum(e0, []) == epoch_permutation(40, 3, 0).tolist()


def test_sampler_validation() -> None:
    with pytest.raises(ValueError, match="less than one global batch"):
        EpochBatchSampler(10, 8, world_size=2)
    sampler = EpochBatchSampler(100, 10, samples_per_epoch=35)
    assert len(sampler) == 3
    with pytest.raises(ValueError, match="start_batch"):
        sampler.set_epoch(0, start_batch=4)
    with pytest.raises(ValueError, match="rank 2"):
        EpochBatchSampler(100, 10, rank=2, world_size=2)


def test_samples_per_epoch_draws_a_fresh_subset_each_epoch() -> None:
    sampler = EpochBatchSampler(100, 10, samples_per_epoch=30)
    seen = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        seen.append({i for batch in sampler for _, i in batch})
    assert len(seen[0]) == len(seen[1]) == 30 and seen[0] != seen[1]
    assert np.isin(list(seen[0]), np.arange(100)).all()


def test_item_transform_is_seeded_and_leaves_the_global_generator_alone(tiny_bundle) -> None:
    transform = PairTransform(tiny_bundle.preprocess_train, image_augment=image_policy())
    image = CountingPairs(1, textured=True)[0]["image"]
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = transform(image, "x", "key", seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    again = transform(image, "x", "key", seed=3)
    other = transform(image, "x", "key", seed=4)
    assert torch.equal(first["image"], again["image"]) and torch.equal(
        first["image_aug"], again["image_aug"]
    )
    assert not torch.equal(first["image"], other["image"])
