import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.zero_shot import (
    build_classifier,
    mean_per_class_recall,
    predict,
    topk_accuracy,
    zero_shot_metrics,
)


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_topk_hand_computed():
    scores = torch.tensor(
        [
            [0.9, 0.5, 0.1, 0.0],  # label 0 -> rank 0
            [0.9, 0.5, 0.1, 0.0],  # label 1 -> rank 1
            [0.9, 0.5, 0.1, 0.0],  # label 3 -> rank 3
            [0.1, 0.2, 0.3, 0.4],  # label 1 -> rank 2
        ]
    )
    labels = torch.tensor([0, 1, 3, 1])
    out = topk_accuracy(scores, labels, (1, 2, 3, 5))
    assert out == {"top1": 25.0, "top2": 50.0, "top3": 75.0}  # k=5 > C=4 is skipped


def test_metrics_against_naive_loop():
    feats, classifier = _unit(200, 16, seed=1), _unit(10, 16, seed=2).T
    labels = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(3))
    out = zero_shot_metrics(feats, labels, classifier)
    hits = {1: 0, 3: 0, 5: 0}
    per_class = {c: [0, 0] for c in range(10)}
    for x, y in zip(feats, labels):
        order = sorted(range(10), key=lambda c: -float(x @ classifier[:, c]))
        for k in hits:
            hits[k] += int(y.item() in order[:k])
        per_class[y.item()][0] += int(order[0] == y.item())
        per_class[y.item()][1] += 1
    for k in hits:
        assert out[f"top{k}"] == pytest.approx(100.0 * hits[k] / 200)
    recalls = [a / n for a, n in per_class.values() if n]
    assert out["mean_per_class_recall"] == pytest.approx(100.0 * sum(recalls) / len(recalls))


def test_mean_per_class_recall_is_unweighted():
    labels = torch.tensor([0, 0, 0, 0, 1])
    preds = torch.tensor([0, 0, 0, 0, 0])  # class 0: 100%, class 1: 0%
    assert mean_per_class_recall(preds, labels) == pytest.approx(50.0)


def test_perfect_classifier_scores_100():
    classifier = torch.eye(5)  # (d=5, C=5)
    labels = torch.arange(5).repeat(3)
    feats = classifier.T[labels]
    out = zero_shot_metrics(feats, labels, classifier)
    assert out["top1"] == 100.0 and out["mean_per_class_recall"] == 100.0
    assert torch.equal(predict(feats, classifier), labels)


def test_rejects_out_of_range_labels_and_dim_mismatch():
    with pytest.raises(ValueError, match="labels must lie"):
        zero_shot_metrics(_unit(4, 8), torch.tensor([0, 1, 2, 7]), _unit(3, 8).T)
    with pytest.raises(ValueError, match="dimension mismatch"):
        zero_shot_metrics(_unit(4, 8), torch.zeros(4, dtype=torch.long), _unit(3, 6).T)


class _FakeTextModel(torch.nn.Module):
    """encode_text looks tokens up in a fixed table, so the classifier is computable by hand."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def encode_text(self, tokens, normalize=False):
        x = self.table[tokens[:, 0]]
        return F.normalize(x, dim=-1) if normalize else x


def test_build_classifier_averages_normalised_template_embeddings():
    vocab = {"a cat": 0, "the cat": 1, "a dog": 2, "the dog": 3}
    table = torch.tensor([[3.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-1.0, -1.0]])
    model = _FakeTextModel(table)

    def tokenizer(texts):
        return torch.tensor([[vocab[t]] for t in texts])

    w = build_classifier(model, tokenizer, ["cat", "dog"], ["a {c}", "the {c}"], batch_size=3)
    assert w.shape == (2, 2)
    s = 2**-0.5
    cat = torch.tensor([1.0, 1.0]) / 2  # mean of (1, 0) and (0, 1)
    dog = (torch.tensor([-1.0, 0.0]) + torch.tensor([-s, -s])) / 2
    torch.testing.assert_close(w[:, 0], F.normalize(cat, dim=0))
    torch.testing.assert_close(w[:, 1], F.normalize(dog, dim=0))


def test_build_classifier_with_cyclip_tiny():
    from cyclip.models import create_model

    bundle = create_model("cyclip-tiny")
    w = build_classifier(bundle.model, bundle.tokenizer, ["cat", "dog", "car"], ["a {c}."])
    assert w.shape == (32, 3)
    torch.testing.assert_close(w.norm(dim=0), torch.ones(3))
    direct = bundle.model.encode_text(bundle.tokenizer(["a dog."]), normalize=True)[0]
    torch.testing.assert_close(w[:, 1], direct.detach(), atol=1e-5, rtol=1e-5)
