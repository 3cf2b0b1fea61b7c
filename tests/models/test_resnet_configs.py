"""cyclip's ResNet configs (open_clip's ModifiedResNet, the paper's RN50 family, scaled down)."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch
from open_clip.modified_resnet import ModifiedResNet

from cyclip.evaluation import load_model
from cyclip.losses import CyCLIPLoss
from cyclip.models import MODEL_CONFIG_DIR, create_model

RESNETS = ("cyclip-rn-tiny", "cyclip-rn-small")


def _side(value) -> int:
    return value[0] if isinstance(value, (tuple, list)) else value


def test_open_clip_lists_the_resnets() -> None:
    # Importing cyclip.models registered them (in a fresh process: tests/models/test_factory.py).
    assert set(RESNETS) <= set(open_clip.list_models())


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_config_is_a_small_rn50_family_member(name: str) -> None:
    cfg = json.loads((MODEL_CONFIG_DIR / f"{name}.json").read_text())
    layers = cfg["vision_cfg"]["layers"]
    assert isinstance(layers, list) and len(layers) == 4  # a list selects ModifiedResNet
    model = open_clip.create_model(name)
    assert isinstance(model.visual, ModifiedResNet)
    assert model.visual.attnpool is not None  # attention pooling, as in the paper's RN50
    n_params = sum(p.numel() for p in model.parameters())
    assert 2e6 < n_params < 15e6, n_params
    # The text tower holds whole world captions (28 BPE tokens plus start and end).
    assert model.context_length >= 30


@pytest.mark.parametrize("name", RESNETS)
def test_every_resnet_parameter_gets_a_finite_gradient(name: str) -> None:
    torch.manual_seed(0)
    model, _, _, tokenizer = create_model(name)
    model.train()
    side = _side(model.visual.image_size)
    images = torch.randn(4, 3, side, side)
    texts = tokenizer([f"a red circle number {i}" for i in range(4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    # open_clip zero-initialises the last BatchNorm of each residual branch (bn3.weight), so the
    # conv before it gets an exactly zero gradient on the first step; after one step it must not.
    for _ in range(2):
        optimizer.zero_grad(set_to_none=True)
        terms = CyCLIPLoss()(**model(images, texts), output_dict=True)
        sum(terms.values()).backward()
        optimizer.step()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{param_name} received no gradient"
        assert torch.isfinite(param.grad).all(), f"{param_name} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{param_name} has an all-zero gradient"


def test_resnet_checkpoint_loads_back_in_cyclip_eval_and_open_clip(tmp_path) -> None:
    from cyclip.data import DataConfig
    from cyclip.experiments.pairs import TensorPairLoader
    from cyclip.train import LossConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig, train

    name = "cyclip-rn-tiny"
    torch.manual_seed(0)
    tokenizer = open_clip.get_tokenizer(name)
    images = torch.randn(8, 3, 64, 64)
    texts = tokenizer([f"a blue star number {i}" for i in range(8)])
    cfg = TrainConfig(
        model=ModelConfig(name=name),
        data=DataConfig(val_data=None, batch_size=4, workers=0),
        loss=LossConfig(name="cyclip", normalization="mean"),
        optim=OptimConfig(lr=1e-3, warmup_steps=1, max_steps=2),
        run=RunConfig(
            output_dir=str(tmp_path),
            name="rn",
            checkpoint_every=0,
            tensorboard=False,
            progress=False,
        ),
    )
    result = train(cfg, loader=TensorPairLoader(images, texts, batch_size=4, seed=0))
    saved = torch.load(result.checkpoint, weights_only=True)["state_dict"]
    # BatchNorm running statistics moved during training: they are part of what must load back.
    bn = "visual.bn1.running_mean"
    assert not torch.equal(saved[bn], torch.zeros_like(saved[bn]))

    loaded = load_model(checkpoint=result.checkpoint).bundle.model
    assert not loaded.training
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, saved[key]), key
    via_open_clip = open_clip.create_model(name, pretrained=str(result.checkpoint))
    for key, value in via_open_clip.state_dict().items():
        assert torch.equal(value, saved[key]), key
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        torch.testing.assert_close(loaded.encode_image(x), via_open_clip.eval().encode_image(x))
