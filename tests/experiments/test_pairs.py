"""The pre-rendered training loader and the method definitions of cyclip.experiments."""

from __future__ import annotations

import dataclasses

import torch

from cyclip.experiments import (
    ALL_METHODS,
    METHODS,
    SIGLIP_METHODS,
    ClaimsConfig,
    TensorPairLoader,
    is_collapsed,
)
from cyclip.experiments.claims import train_config


def _loader(seed: int = 0) -> TensorPairLoader:
    images = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    texts = torch.arange(10).view(10, 1).expand(10, 4)
    return TensorPairLoader(images, texts, batch_size=3, seed=seed)


def test_batches_keep_pairs_together_and_drop_the_remainder() -> None:
    loader = _loader()
    loader.set_epoch(0)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    seen = []
    for b in batches:
        assert b["images"].shape == (3, 3, 2, 2) and b["texts"].shape == (3, 4)
        assert torch.equal(b["images"][:, 0, 0, 0].long(), b["texts"][:, 0])  # pairs intact
        seen += b["texts"][:, 0].tolist()
    assert len(set(seen)) == 9  # no pair twice within an epoch


def test_order_depends_only_on_seed_and_epoch_and_resumes_exactly() -> None:
    def order(loader: TensorPairLoader, epoch: int, start: int = 0) -> list[int]:
        loader.set_epoch(epoch, start)
        return [i for b in loader for i in b["texts"][:, 0].tolist()]

    assert order(_loader(0), 1) == order(_loader(0), 1)
    assert order(_loader(0), 0) != order(_loader(0), 1)
    assert order(_loader(0), 0) != order(_loader(1), 0)
    assert order(_loader(0), 2, start=1) == order(_loader(0), 2)[3:]


def test_methods_differ_only_in_the_lambdas() -> None:
    losses = {m.name: m.loss_config("mean").resolved() for m in METHODS}
    assert (losses["clip"].lambda_inmodal, losses["clip"].lambda_crossmodal) == (0.0, 0.0)
    assert (losses["cyclip"].lambda_inmodal, losses["cyclip"].lambda_crossmodal) == (0.25, 0.25)
    assert losses["c-cyclip"].lambda_inmodal == 0.0 and losses["c-cyclip"].lambda_crossmodal > 0
    assert losses["i-cyclip"].lambda_crossmodal == 0.0 and losses["i-cyclip"].lambda_inmodal > 0
    assert {loss.normalization for loss in losses.values()} == {"mean"}


def test_collapse_needs_chance_loss_and_bunched_embeddings() -> None:
    ln256 = torch.log(torch.tensor(256.0)).item()
    assert is_collapsed(ln256, 256, uniformity_image=-0.01)
    assert not is_collapsed(0.5 * ln256, 256, uniformity_image=-0.01)  # learning
    assert not is_collapsed(ln256, 256, uniformity_image=-3.0)  # untrained but spread out


def test_siglip_methods_share_everything_but_the_objective(tmp_path) -> None:
    cfg = ClaimsConfig()
    configs = {
        m.name: train_config(cfg, ALL_METHODS[m.name], 3, tmp_path).resolved()
        for m in (*METHODS, *SIGLIP_METHODS)
    }
    assert [configs[n].loss.name for n in ("siglip", "cy-siglip")] == ["siglip", "cy-siglip"]
    assert configs["cy-siglip"].loss == dataclasses.replace(
        configs["cyclip"].loss, name="cy-siglip"
    )
    assert configs["siglip"].model.init_logit_bias == -10.0
    assert configs["clip"].model.init_logit_bias is None
    for name, c in configs.items():  # same data, optimiser, schedule, seed as CLIP
        assert (c.data, c.optim, c.run.seed) == (
            configs["clip"].data,
            configs["clip"].optim,
            configs["clip"].run.seed,
        ), name
