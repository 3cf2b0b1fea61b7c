"""build_eval_loader: dataset order kept, batch keys per item kind, bad images skipped and counted."""

from __future__ import annotations

from pathlib import Path

import torch
from data_helpers import coloured_image, index_tokenizer, red_channel

from cyclip.data import build_eval_loader, open_classification, open_pairs, open_retrieval


def test_classification_batches_keep_order_and_drop_bad_images(tmp_path: Path) -> None:
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            coloured_image(10 * (c == "b") + i).save(tmp_path / c / f"{i}.png")
    (tmp_path / "a" / "1.png").write_bytes(b"broken")
    dataset, _ = open_classification(str(tmp_path))
    batches = list(build_eval_loader(dataset, red_channel, batch_size=4, workers=0))
    assert [b["indices"].tolist() for b in batches] == [[0, 2, 3], [4, 5]]
    assert [b["labels"].tolist() for b in batches] == [[0, 0, 1], [1, 1]]
    assert batches[0]["images"][:, 0, 0, 0].tolist() == [0.0, 2.0, 10.0]
    assert batches[0]["n_skipped"] == 1 and "1.png" in batches[0]["skipped_examples"][0]


def test_retrieval_and_pairs_batches(make_pairs_csv, tmp_path: Path) -> None:
    path = make_pairs_csv(5)
    ret = list(build_eval_loader(open_retrieval(str(path)), red_channel, batch_size=2, workers=0))
    assert [c for b in ret for c in b["captions"]] == [[f"item {i}"] for i in range(5)]
    pairs = list(
        build_eval_loader(
            open_pairs(str(path)), red_channel, batch_size=2, workers=2, tokenizer=index_tokenizer
        )
    )
    assert torch.cat([b["texts"][:, 0] for b in pairs]).tolist() == list(range(5))
    assert [c for b in pairs for c in b["captions"]] == [f"item {i}" for i in range(5)]


def test_streamed_pairs_and_an_all_bad_batch(make_shards) -> None:
    paths = make_shards(1, 4, drop_txt={0, 1})
    batches = list(
        build_eval_loader(open_pairs(str(paths[0])), red_channel, batch_size=2, workers=0)
    )
    assert batches[0]["n_skipped"] == 2 and batches[0]["images"].shape == (0, 3, 1, 1)
    assert batches[0]["captions"] == [] and batches[0]["labels"].shape == (0,)
    assert batches[1]["captions"] == ["item 2", "item 3"]
