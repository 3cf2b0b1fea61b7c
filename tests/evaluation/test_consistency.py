from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.consistency import consistency_metrics, knn_vote


def _naive_vote(labels: list[int], k: int) -> int:
    """Shrink k until the k nearest labels have a single most frequent value."""
    while True:
        counts = Counter(labels[:k]).most_common()
        if len(counts) == 1 or counts[0][1] > counts[1][1]:
            return counts[0][0]
        k -= 1


def test_tie_breaking_hand_built():
    # k=1: 2; k=2: {2,1} tie -> k=1 -> 2; k=3: 1 wins (2 vs 1); k=4: {1,1,2,2} tie -> k=3 -> 1;
    # k=5: 2 wins (3 vs 2)... after 2,1,1,2,2 -> 2 has 3. k=6 with label 1: 3 vs 3 tie -> k=5 -> 2.
    neighbours = torch.tensor([[2, 1, 1, 2, 2, 1]])
    assert knn_vote(neighbours).tolist() == [[2, 2, 1, 1, 2, 2]]
    # Three-way tie at k=3 falls back through a tie at k=2 to the nearest neighbour.
    assert knn_vote(torch.tensor([[5, 7, 9]])).tolist() == [[5, 5, 5]]


def test_vote_matches_naive_on_random_labels():
    g = torch.Generator().manual_seed(0)
    neighbours = torch.randint(0, 4, (500, 10), generator=g)  # few classes -> many ties
    votes = knn_vote(neighbours)
    for row, vote in zip(neighbours.tolist(), votes.tolist()):
        assert vote == [_naive_vote(row, k) for k in range(1, 11)]


def test_consistency_matches_naive_per_sample_loop():
    g = torch.Generator().manual_seed(1)
    train = F.normalize(torch.randn(120, 12, generator=g), dim=-1)
    train_labels = torch.randint(0, 5, (120,), generator=g)
    test = F.normalize(torch.randn(40, 12, generator=g), dim=-1)
    test_labels = torch.randint(0, 5, (40,), generator=g)
    zs = torch.randint(0, 5, (40,), generator=g)
    out = consistency_metrics(test, zs, train, train_labels, test_labels, ks=(1, 3, 5, 10))
    for k in (1, 3, 5, 10):
        agree = correct = 0
        for x, z, y in zip(test, zs, test_labels):
            sims = [float(x @ t) for t in train]
            order = sorted(range(len(sims)), key=lambda j: -sims[j])
            vote = _naive_vote([int(train_labels[j]) for j in order], k)
            agree += int(vote == int(z))
            correct += int(vote == int(y))
        assert out[f"consistency@{k}"] == pytest.approx(100.0 * agree / 40)
        assert out[f"knn_accuracy@{k}"] == pytest.approx(100.0 * correct / 40)


def test_clustered_features_are_fully_consistent():
    centres = torch.eye(3)
    train = F.normalize(centres.repeat_interleave(10, 0) + 0.01 * torch.randn(30, 3), dim=-1)
    train_labels = torch.arange(3).repeat_interleave(10)
    test = centres
    out = consistency_metrics(test, torch.arange(3), train, train_labels, torch.arange(3))
    assert all(v == 100.0 for v in out.values())
    out = consistency_metrics(test, torch.tensor([1, 2, 0]), train, train_labels)
    assert out["consistency@10"] == 0.0 and "knn_accuracy@1" not in out


def test_too_few_train_images_is_an_actionable_error():
    with pytest.raises(ValueError, match="needs at least 10 train images"):
        consistency_metrics(torch.eye(3), torch.zeros(3), torch.eye(3), torch.arange(3))
