import math

import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.geometry import geometry_metrics, similarity_histograms, subsample


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_identical_modalities():
    x = _unit(50, 6, 0)
    out = geometry_metrics(x, x.clone())
    assert out["modality_gap"] == pytest.approx(0.0, abs=1e-6)
    assert out["alignment"] == pytest.approx(0.0, abs=1e-6)
    assert out["inmodal_cyclic"] == pytest.approx(0.0, abs=1e-6)
    assert out["crossmodal_cyclic"] == pytest.approx(0.0, abs=1e-6)
    assert out["matched_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert out["uniformity_image"] == pytest.approx(out["uniformity_text"], abs=1e-9)


def test_against_naive_loops():
    images, texts = _unit(20, 5, 1), _unit(20, 5, 2)
    out = geometry_metrics(images, texts)
    n = 20
    gap = (images.mean(0) - texts.mean(0)).norm().item()
    align = sum(((images[i] - texts[i]) ** 2).sum().item() for i in range(n)) / n

    def unif(a, b, skip_diag):
        vals = [
            math.exp(-2 * ((a[i] - b[j]) ** 2).sum().item())
            for i in range(n)
            for j in range(n)
            if not (skip_diag and i == j)
        ]
        return math.log(sum(vals) / len(vals))

    l_in = (
        sum(
            (float(images[j] @ images[k]) - float(texts[j] @ texts[k])) ** 2
            for j in range(n)
            for k in range(n)
        )
        / n**2
    )
    l_cross = (
        sum(
            (float(images[j] @ texts[k]) - float(images[k] @ texts[j])) ** 2
            for j in range(n)
            for k in range(n)
        )
        / n**2
    )
    assert out["modality_gap"] == pytest.approx(gap, rel=1e-5)
    assert out["alignment"] == pytest.approx(align, rel=1e-5)
    assert out["uniformity_image"] == pytest.approx(unif(images, images, True), rel=1e-5)
    assert out["uniformity_text"] == pytest.approx(unif(texts, texts, True), rel=1e-5)
    assert out["uniformity_cross"] == pytest.approx(unif(images, texts, True), rel=1e-5)
    assert out["inmodal_cyclic"] == pytest.approx(l_in, rel=1e-4)
    assert out["crossmodal_cyclic"] == pytest.approx(l_cross, rel=1e-4)


def test_collapsed_embedding_has_uniformity_zero_and_antipodal_gap_two():
    e = torch.zeros(10, 3)
    e[:, 0] = 1.0
    out = geometry_metrics(e, -e)
    assert out["uniformity_image"] == pytest.approx(0.0, abs=1e-9)  # all distances 0
    assert out["modality_gap"] == pytest.approx(2.0)
    assert out["alignment"] == pytest.approx(4.0)
    assert out["uniformity_cross"] == pytest.approx(-8.0)


def test_subsample_is_deterministic_and_bounded():
    assert torch.equal(subsample(10, 20), torch.arange(10))
    a, b = subsample(1000, 64, seed=3), subsample(1000, 64, seed=3)
    assert torch.equal(a, b) and a.numel() == 64 and a.unique().numel() == 64
    big = geometry_metrics(_unit(300, 4, 5), _unit(300, 4, 6), max_points=50)
    assert big == geometry_metrics(_unit(300, 4, 5), _unit(300, 4, 6), max_points=50)


def test_histograms_are_densities():
    images, texts = _unit(40, 4, 7), _unit(40, 4, 8)
    h = similarity_histograms(images, images, bins=20)
    assert len(h["bin_edges"]) == 21 and len(h["matched"]) == 20
    width = 2.0 / 20
    assert sum(h["matched"]) * width == pytest.approx(1.0)
    assert sum(h["unmatched"]) * width == pytest.approx(1.0)
    assert h["matched"][-1] > 0  # matched pairs of identical features sit at cosine 1
    h2 = similarity_histograms(images, texts, bins=20)
    assert sum(h2["unmatched"]) * width == pytest.approx(1.0)
