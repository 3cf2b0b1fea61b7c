"""NLI triplet data: bad input, rank slices, and the resume contract of the attached stream."""

from __future__ import annotations

import pytest
import torch

from cyclip.data.sentences import TripletStream, WithTriplets, read_triplets, with_triplets


class CountingLoader:
    """A TrainLoader stand-in: ``n`` batches per epoch, resumable with ``start_batch``."""

    batch_size, world_size = 2, 1

    def __init__(self, n: int = 8) -> None:
        self.n, self.epoch, self.start = n, 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start = epoch, start_batch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for k in range(self.start, self.n):
            yield {"images": torch.zeros(2, 1), "index": (self.epoch, k)}


def write_csv(path, n: int, header: str = "sent0,sent1,hard_neg", extra: str = "") -> str:
    lines = [header] + [f"premise {i},entailed {i},contradiction {i}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def ids(texts: list[str]) -> torch.Tensor:
    """A stand-in tokenizer: one row per sentence holding the numbers in it."""
    return torch.tensor([[int(t.split()[-1]), len(t)] for t in texts])


def test_missing_columns_are_one_clear_error(tmp_path):
    path = write_csv(tmp_path / "nli.csv", 3, header="premise,hypothesis,hard_neg")
    with pytest.raises(ValueError, match=r"missing sent0, sent1, found premise, hypothesis"):
        read_triplets(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty file"):
        read_triplets(tmp_path / "empty.csv")
    with pytest.raises(FileNotFoundError, match="--data.sentence-data"):
        read_triplets(tmp_path / "nope.csv")


def test_empty_sentences_are_skipped_and_counted(tmp_path):
    path = write_csv(tmp_path / "nli.csv", 4, extra='a,  ,c\n"",b,c\nshort row\n')
    triplets = read_triplets(path)
    assert len(triplets.rows) == 4 and triplets.n_skipped == 3
    assert triplets.rows[0] == ("premise 0", "entailed 0", "contradiction 0")


def test_tab_separated_files_are_read(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text("sent0\tsent1\thard_neg\na, b\tc\td\n")
    assert read_triplets(path).rows == [("a, b", "c", "d")]


def test_a_file_shorter_than_one_global_batch_is_an_error(tmp_path):
    triplets = read_triplets(write_csv(tmp_path / "nli.csv", 7, extra="x,,y\n"))
    with pytest.raises(ValueError, match=r"7 usable triplet\(s\) \(1 skipped\).*= 8"):
        TripletStream(triplets, ids, batch_size=4, world_size=2)


def test_ranks_slice_the_single_process_batch(tmp_path):
    triplets = read_triplets(write_csv(tmp_path / "nli.csv", 30))
    one = TripletStream(triplets, ids, batch_size=6, seed=3)
    two = [TripletStream(triplets, ids, batch_size=3, rank=r, world_size=2, seed=3) for r in (0, 1)]
    for number in (0, 4, 7):  # 5 batches per epoch: 7 is in the second epoch, a new order
        joined = [int(i) for s in two for i in s.indices(number)]
        assert joined == [int(i) for i in one.indices(number)]
    assert sorted(int(i) for k in range(5) for i in one.indices(k)) == list(range(30))
    assert list(one.indices(5)) != list(one.indices(0))
    rows = one.batch(0)  # [premises ; entailments ; contradictions], the same triplet per slot
    assert rows.shape == (18, 2) and torch.equal(rows[:6, 0], rows[6:12, 0])


def test_resumed_loader_continues_with_the_same_triplets(tmp_path):
    path = write_csv(tmp_path / "nli.csv", 20)

    def loader() -> WithTriplets:
        return with_triplets(CountingLoader(8), path, ids, batch_size=3, seed=1)

    full = []
    for epoch in range(2):
        run = loader()
        run.set_epoch(epoch)
        full += [b["nli_texts"] for b in run]
    resumed = loader()
    resumed.set_epoch(1, start_batch=5)  # 8 batches per epoch: global batch number 13
    tail = [b["nli_texts"] for b in resumed]
    assert len(tail) == 3
    for a, b in zip(tail, full[13:]):
        assert torch.equal(a, b)
