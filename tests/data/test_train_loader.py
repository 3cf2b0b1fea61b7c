"""build_train_loader end to end: CSV, webdataset and builtin sources, bad items, augmentation, resume."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import torch
from data_helpers import coloured_image, index_tokenizer, jpeg_bytes, red_channel

from cyclip.data import DataConfig, build_train_loader


def _ids(batches: list[dict]) -> list[int]:
    return [i for b in batches for i in b["texts"][:, 0].tolist()]


def _epoch(loader, epoch: int, start_batch: int = 0) -> list[dict]:
    loader.set_epoch(epoch, start_batch)
    return list(loader)


def test_csv_bad_items_are_dropped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "im"
    folder.mkdir()
    rows = ["image,caption"]
    for i in range(20):
        coloured_image(i).save(folder / f"{i}.png")
        rows.append(f"im/{i}.png,item {i}")
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("I am a caption")
    (folder / "trunc.jpg").write_bytes(jpeg_bytes(coloured_image(3, size=64))[:200])
    rows += [
        "im/zero.jpg,item 100",
        "im/text.jpg,item 101",
        "im/trunc.jpg,item 102",
        "im/gone.png,item 103",
    ]
    rows += ["im/0.png,   ", "im/5.png,item 5"]  # an empty caption, and a good duplicate row
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    cfg = DataConfig(train_data=str(tmp_path / "d.csv"), batch_size=13, workers=0, val_data=None)
    loader = build_train_loader(cfg, red_channel, index_tokenizer)
    assert len(loader) == 2 and loader.num_samples == 26
    batches = _epoch(loader, 0)
    kept = _ids(batches)
    assert sum(b["n_skipped"] for b in batches) == 26 - len(kept) == 5
    assert not set(kept) & {100, 101, 102, 103}
    examples = " ".join(e for b in batches for e in b["skipped_examples"])
    for reason in ("not a readable image", "corrupt image", "not found", "empty caption"):
        assert reason in examples
    for b in batches:  # images stay aligned with their captions after dropping
        assert b["images"][:, 0, 0, 0].tolist() == [
            float(i % 256) for i in b["texts"][:, 0].tolist()
        ]


def test_a_batch_of_only_bad_items_is_empty_with_the_right_shapes(
    tmp_path: Path, tiny_bundle
) -> None:
    (tmp_path / "d.csv").write_text("image,caption\na.jpg,x\nb.jpg,y\n")
    cfg = DataConfig(train_data=str(tmp_path / "d.csv"), batch_size=2, workers=0)
    loader = build_train_loader(cfg, tiny_bundle.preprocess_train, tiny_bundle.tokenizer)
    (batch,) = _epoch(loader, 0)
    assert batch["images"].shape == (0, 3, 32, 32) and batch["texts"].shape == (0, 16)
    assert batch["n_skipped"] == 2


def test_inmodal_augment_gives_fresh_views_each_epoch(make_pairs_csv, tiny_bundle) -> None:
    path = make_pairs_csv(8)
    cfg = DataConfig(train_data=str(path), batch_size=8, workers=0, inmodal_augment=True)
    loader = build_train_loader(cfg, tiny_bundle.preprocess_train, tiny_bundle.tokenizer, seed=5)
    (e0,) = _epoch(loader, 0)
    (e0_again,) = _epoch(loader, 0)
    (e1,) = _epoch(loader, 1)
    assert e0["images_aug"].shape == e0["images"].shape == (8, 3, 32, 32)
    assert e0["texts_aug"].shape == e0["texts"].shape
    assert torch.equal(
        e0["images_aug"], e0_again["images_aug"]
    )  # a function of (seed, epoch, item)
    assert torch.equal(e0["texts_aug"], e0_again["texts_aug"])
    assert not torch.equal(e0["texts"], e0["texts_aug"])  # EDA changed some captions
    # the same item gets a new augmentation in a new epoch
    row_in_e1 = [
        next(j for j in range(8) if torch.equal(e1["texts"][j], e0["texts"][i])) for i in range(8)
    ]
    changed = [
        not torch.equal(e0["images_aug"][i], e1["images_aug"][j]) for i, j in enumerate(row_in_e1)
    ]
    assert sum(changed) >= 6


def test_workers_give_the_same_batches_as_the_main_process(make_pairs_csv) -> None:
    path = make_pairs_csv(24)
    batches = {}
    for workers in (0, 2):
        cfg = DataConfig(train_data=str(path), batch_size=4, workers=workers)
        loader = build_train_loader(cfg, red_channel, index_tokenizer, seed=9)
        batches[workers] = [_ids(_epoch(loader, e)) for e in range(2)] + [
            _ids(_epoch(loader, 1, start_batch=4))
        ]
    assert batches[0] == batches[2]
    assert batches[0][0] != batches[0][1] and batches[0][2] == batches[0][1][16:]


def _shard_loader(spec: str, workers: int = 0, **kw):
    cfg = DataConfig(train_data=spec, batch_size=4, workers=workers, shuffle_buffer=8, **kw)
    return build_train_loader(cfg, red_channel, index_tokenizer)


def test_webdataset_epoch_covers_every_sample_once_shuffled(make_shards) -> None:
    paths = make_shards(4, 8)
    spec = f"{paths[0].parent}/{{00000..00003}}.tar"
    loader = _shard_loader(spec)
    assert len(loader) == 8
    e0, e0_again, e1 = _ids(_epoch(loader, 0)), _ids(_epoch(loader, 0)), _ids(_epoch(loader, 1))
    assert sorted(e0) == list(range(32)) and e0 != list(range(32))
    assert e0 == e0_again and e1 != e0
    assert len(_epoch(loader, 1, start_batch=5)) == 3


def test_webdataset_ranks_read_disjoint_shards(make_shards) -> None:
    paths = make_shards(4, 8)
    spec = f"{paths[0].parent}/{{00000..00003}}.tar"
    seen = []
    for rank in range(2):
        cfg = DataConfig(train_data=spec, batch_size=4, workers=0, shuffle_buffer=8)
        loader = build_train_loader(cfg, red_channel, index_tokenizer, rank=rank, world_size=2)
        assert len(loader) == 4
        seen.append(_ids(_epoch(loader, 0)))
    assert sorted(seen[0] + seen[1]) == list(range(32))


def test_webdataset_with_workers_and_a_missing_caption(make_shards) -> None:
    paths = make_shards(4, 6, drop_txt={7})
    loader = _shard_loader(f"{paths[0].parent}/{{00000..00003}}.tar", workers=2)
    assert len(loader) == 6  # 24 samples // 4, rounded to a multiple of the 2 workers
    batches = _epoch(loader, 0)
    assert len(batches) == 6 and all(len(b["texts"]) == 4 for b in batches)  # refilled, full
    ids = _ids(batches)
    assert set(ids) == set(range(24)) - {7}  # one worker wraps around to fill its last batch
    assert sum(b["n_skipped"] for b in batches) == 1
    with pytest.raises(ValueError, match="4 shards cannot feed 1 processes x 8 workers"):
        _shard_loader(f"{paths[0].parent}/{{00000..00003}}.tar", workers=8)


def test_webdataset_resampled_needs_a_sample_count_and_draws_with_replacement(make_shards) -> None:
    paths = make_shards(2, 8)
    with pytest.raises(ValueError, match="set train_num_samples"):
        DataConfig(train_data=str(paths[0]), resampled=True)
    loader = _shard_loader(
        f"{paths[0].parent}/{{00000..00001}}.tar", resampled=True, train_num_samples=40
    )
    assert len(loader) == 10
    ids = _ids(_epoch(loader, 0))
    assert len(ids) == 40 and set(ids) <= set(range(16)) and len(set(ids)) < 40
    assert ids == _ids(_epoch(loader, 0))


def test_builtin_source(tiny_bundle) -> None:
    cfg = DataConfig(train_data="builtin:shapes/pretrain?size=40", batch_size=16, workers=0)
    loader = build_train_loader(cfg, tiny_bundle.preprocess_train, tiny_bundle.tokenizer)
    assert len(loader) == 2
    batch = next(iter(_epoch(loader, 0)))
    assert batch["images"].shape == (16, 3, 32, 32) and batch["texts"].dtype == torch.long
    assert batch["n_skipped"] == 0
    with pytest.raises(ValueError, match="webdataset shards only"):
        build_train_loader(
            DataConfig(train_data="builtin:shapes/pretrain", resampled=True, train_num_samples=10),
            tiny_bundle.preprocess_train,
            tiny_bundle.tokenizer,
        )


def test_classification_source_is_refused_for_training(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    coloured_image(0).save(tmp_path / "cat" / "0.png")
    with pytest.raises(
        ValueError, match="imagefolder source, which provides classification data, not pairs"
    ):
        build_train_loader(DataConfig(train_data=str(tmp_path)), red_channel, index_tokenizer)


def test_long_captions_are_clipped_without_changing_their_tokens(tiny_bundle) -> None:
    from cyclip.data.collate import PairCollator, PairTransform

    tokenizer = tiny_bundle.tokenizer
    caption = ("a small red circle, next to a large blue square! " * 200)[:10_000]
    collator = PairCollator(tokenizer, PairTransform(tiny_bundle.preprocess_val))
    clipped = collator._tokenize([caption, "a dog"])
    assert torch.equal(clipped, tokenizer([caption, "a dog"]))
    assert clipped[0, -1].item() == tokenizer.eot_token_id  # truncation keeps end-of-text


def test_webdataset_training_survives_a_truncated_shard(make_shards) -> None:
    paths = make_shards(2, 6)
    with tarfile.open(paths[1]) as tar:
        member = tar.getmembers()[4]  # 000008.png
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: member.offset_data + member.size // 2])  # cut inside the member
    spec = f"{paths[0].parent}/{{00000..00001}}.tar"
    loader = _shard_loader(spec, train_num_samples=12)
    batches = _epoch(loader, 0)
    assert len(batches) == len(loader) == 3
    assert sum(b["n_skipped"] for b in batches) >= 1
    assert any("unexpected end of data" in e for b in batches for e in b["skipped_examples"])
