import pytest
import torch
import torch.nn.functional as F

from cyclip.evaluation.linear_probe import (
    LinearProbeConfig,
    fit_linear_probe,
    linear_probe,
    stratified_split,
)

FAST = LinearProbeConfig(c_grid=(0.01, 1.0, 100.0), max_iter=60)


def _blobs(n_per_class, n_classes, d, noise, seed):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, d, generator=g), dim=-1)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = centres[labels] + noise * torch.randn(len(labels), d, generator=g)
    return F.normalize(x, dim=-1), labels


def test_separable_blobs_are_learned_and_random_labels_are_chance():
    x, y = _blobs(40, 4, 16, 0.05, 0)
    xt, yt = _blobs(20, 4, 16, 0.05, 0)  # same centres (same seed)
    out = linear_probe(x, y, xt, yt, FAST)
    assert out["top1"] == 100.0 and out["c"] in FAST.c_grid
    g = torch.Generator().manual_seed(1)
    noise = F.normalize(torch.randn(400, 16, generator=g), dim=-1)
    labels = torch.randint(0, 4, (400,), generator=g)
    test = F.normalize(torch.randn(400, 16, generator=g), dim=-1)
    test_labels = torch.randint(0, 4, (400,), generator=g)
    chance = linear_probe(noise, labels, test, test_labels, FAST)["top1"]
    assert 10.0 < chance < 40.0


def test_deterministic():
    x, y = _blobs(30, 3, 8, 0.8, 2)
    a = fit_linear_probe(x, y, FAST)
    b = fit_linear_probe(x, y, FAST)
    assert a.c == b.c and a.val_top1 == b.val_top1
    assert torch.equal(a.predict(x), b.predict(x))


def test_stratified_split_keeps_every_class_in_train():
    labels = torch.tensor([0] * 10 + [1] * 5 + [2])
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(16))
    assert set(labels[train].tolist()) == {0, 1, 2}
    assert (labels[val] == 0).sum() == 2 and (labels[val] == 1).sum() == 1


def test_validation_picks_regularisation():
    x, y = _blobs(40, 4, 16, 2.0, 3)  # noisy: a huge C should not win by default
    probe = fit_linear_probe(x, y, LinearProbeConfig(c_grid=(0.1, 1.0, 10.0)))
    assert probe.c in (0.1, 1.0, 10.0) and 0.0 <= probe.val_top1 <= 100.0
    with pytest.raises(ValueError, match="at least two classes"):
        fit_linear_probe(x[:5], torch.zeros(5))


def test_parity_with_sklearn_logistic_regression():
    """Same objective as sklearn's LogisticRegression(C) on the standardised features."""
    from sklearn.linear_model import LogisticRegression

    x, y = _blobs(60, 5, 12, 1.0, 4)
    xt, yt = _blobs(30, 5, 12, 1.0, 5)
    probe = fit_linear_probe(x, y, LinearProbeConfig(c_grid=(0.5,), max_iter=200))
    xs = ((x - probe.mean) / probe.std).double().numpy()
    ref = LogisticRegression(C=0.5, max_iter=5000, tol=1e-8).fit(xs, y.numpy())
    torch.testing.assert_close(
        probe.weight, torch.from_numpy(ref.coef_.T).float(), atol=2e-3, rtol=2e-3
    )
    xts = ((xt - probe.mean) / probe.std).double().numpy()
    agree = (probe.predict(xt).numpy() == ref.predict(xts)).mean()
    assert agree == 1.0


def test_classes_absent_from_training_map_back_to_original_indices():
    x, y = _blobs(20, 3, 8, 0.05, 6)
    y = torch.tensor([2, 5, 9])[y]  # sparse class ids
    probe = fit_linear_probe(x, y, FAST)
    assert probe.classes.tolist() == [2, 5, 9]
    assert set(probe.predict(x).tolist()) <= {2, 5, 9}


def test_probe_survives_the_cache_format():
    from cyclip.evaluation.linear_probe import LinearProbe

    x, y = _blobs(20, 3, 8, 0.5, 7)
    probe = fit_linear_probe(x, y, FAST)
    back = LinearProbe.from_tensors(probe.to_tensors())
    assert back.c == probe.c and back.val_top1 == probe.val_top1
    assert torch.equal(back.predict(x), probe.predict(x))
