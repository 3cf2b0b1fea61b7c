"""The official CyCLIP model names, and OpenAI-format state dicts loaded without --model (issue
20, item 7)."""

from __future__ import annotations

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from PIL import Image

from cyclip.models import create_model
from cyclip.models.openai_format import openai_architecture, resolve_model_name

TEXT = {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}
TINY_RN = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8}  # OpenAI's ModifiedResNet
TINY_VIT = {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8}


def _openai_clip(vision: dict) -> CLIP:
    torch.manual_seed(0)
    return CLIP(
        32, vision_cfg=CLIPVisionCfg(**vision), text_cfg=CLIPTextCfg(**TEXT), quick_gelu=True
    ).eval()


def test_official_cyclip_model_names_are_aliases():
    assert resolve_model_name("ViT-B/32") == "ViT-B-32-quickgelu"
    assert resolve_model_name("RN50") == "RN50"  # already an open_clip name
    assert resolve_model_name("cyclip-tiny") == "cyclip-tiny"
    with pytest.raises(ValueError, match="unknown model 'ViT-Q/7'"):
        create_model("ViT-Q/7")


@pytest.mark.parametrize("vision", [TINY_RN, TINY_VIT], ids=["resnet", "vit"])
def test_an_openai_format_checkpoint_loads_without_model(tmp_path, vision, caplog):
    from cyclip.evaluation.load import load_model

    original = _openai_clip(vision)
    path = tmp_path / "official.pt"
    # as the official CyCLIP code saves it: DDP-prefixed keys beside the epoch and optimizer
    state = {f"module.{k}": v for k, v in original.state_dict().items()}
    torch.save({"epoch": 3, "name": "run", "state_dict": state, "optimizer": {}}, path)
    loaded = load_model(checkpoint=path)
    got = loaded.bundle.model.state_dict()
    assert set(got) == set(original.state_dict())
    assert all(torch.equal(got[k], v) for k, v in original.state_dict().items())
    images = torch.randn(2, 3, vision["image_size"], vision["image_size"])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.bundle.model.encode_image(images), original.encode_image(images)
        )
    assert loaded.bundle.tokenizer(["a cat"]).shape == (1, 16)
    size = vision["image_size"]
    assert loaded.bundle.preprocess_val(Image.new("RGB", (50, 70))).shape == (3, size, size)
    assert loaded.info.name == "openai-format"
    assert any("inferred" in r.getMessage() for r in caplog.records)


def test_openai_architecture_names_a_known_shape():
    state = open_clip.create_model("RN50-quickgelu", device="meta").state_dict()
    assert openai_architecture(state) == "RN50-quickgelu"
    assert openai_architecture({"weight": torch.zeros(1)}) is None


def test_cyclip_train_accepts_the_official_names():
    from cyclip.train import ModelConfig, TrainConfig, validate

    problems = validate(TrainConfig(model=ModelConfig(name="ViT-B/32")))
    assert not [p for p in problems if "model" in p], problems
