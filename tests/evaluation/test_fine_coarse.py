import pytest
import torch

from cyclip.evaluation.fine_coarse import fine_coarse_metrics, superclass_index


def test_hand_computed_case():
    # 4 classes: 0,1 -> superclass A (0); 2,3 -> superclass B (1). Features = class scores.
    classifier = torch.eye(4)
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0],  # label 0: flat right, fine right, coarse right
            [0.2, 0.1, 0.3, 0.0],  # label 1: flat wrong (2), fine wrong (0 > 1), coarse wrong (B)
            [0.1, 0.6, 0.5, 0.0],  # label 3: flat wrong (1), fine wrong (2 > 3), coarse wrong (A)
            [0.4, 0.0, 0.3, 0.35],  # label 3: flat wrong (0), fine right (3 > 2), coarse wrong
        ]
    )
    labels = torch.tensor([0, 1, 3, 3])
    names, index = superclass_index(["A", "A", "B", "B"])
    assert names == ["A", "B"] and index.tolist() == [0, 0, 1, 1]
    out = fine_coarse_metrics(scores, labels, classifier, index, ks=(1, 2, 3))
    assert out["fine_top1"] == pytest.approx(50.0)
    assert out["fine_top2"] == pytest.approx(100.0)  # 2 subclasses: top-2 always hits
    assert "fine_top3" not in out  # k larger than the smallest superclass is skipped
    assert out["coarse_top1"] == pytest.approx(25.0)
    assert out["coarse_top2"] == pytest.approx(100.0)
    assert out["flat_top1"] == pytest.approx(25.0)


def test_coarse_top1_equals_superclass_of_flat_prediction():
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(300, 8, generator=g), dim=-1)
    classifier = torch.nn.functional.normalize(torch.randn(8, 9, generator=g), dim=0)
    labels = torch.randint(0, 9, (300,), generator=g)
    sup = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    out = fine_coarse_metrics(feats, labels, classifier, sup)
    flat = (feats @ classifier).argmax(1)
    expected = 100.0 * (sup[flat] == sup[labels]).float().mean().item()
    assert out["coarse_top1"] == pytest.approx(expected)
    # fine accuracy over own superclass can only help compared to flat top-1
    assert out["fine_top1"] >= out["flat_top1"]
