"""cyclip.models: our configs in open_clip's registry, create_model, local weights, gradients."""

from __future__ import annotations

import open_clip
import pytest
import torch
from PIL import Image

from cyclip.losses import CyCLIPLoss
from cyclip.models import create_model, list_models


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("cyclip-tiny")


def test_importing_cyclip_models_registers_the_configs() -> None:
    import subprocess
    import sys

    code = (
        "import cyclip.models, open_clip; "
        "m = open_clip.create_model('cyclip-tiny'); print(m.visual.image_size)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(32, 32)"


def test_configs_are_registered_with_open_clip() -> None:
    names = list_models()
    assert {"cyclip-tiny", "cyclip-small", "ViT-B-32", "RN50"} <= set(names)
    model = open_clip.create_model("cyclip-small")  # open_clip itself builds our config
    assert model.visual.image_size == (64, 64)
    n_params = sum(p.numel() for p in model.parameters())
    assert 2e6 < n_params < 15e6


def test_bundle_feeds_the_model(tiny) -> None:
    model, _, preprocess_val, tokenizer = tiny
    image = preprocess_val(Image.new("RGB", (50, 70), (200, 10, 10))).unsqueeze(0)
    assert image.shape == (1, 3, 32, 32)
    tokens = tokenizer(["a red circle", "word " * 100])
    assert tokens.shape == (2, 16)
    # Truncation keeps the end-of-text token (the official code dropped it).
    eot = tokenizer.eot_token_id
    assert tokens[1, -1].item() == eot
    out = model(image.repeat(2, 1, 1, 1), tokens)
    assert set(out) >= {"image_features", "text_features", "logit_scale"}
    norms = out["image_features"].norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones(2))


def test_every_parameter_gets_a_finite_gradient(tiny) -> None:
    model, _, _, tokenizer = tiny
    model.train()
    images = torch.randn(8, 3, 32, 32)
    texts = tokenizer([f"caption number {i}" for i in range(8)])
    terms = CyCLIPLoss()(**model(images, texts), output_dict=True)
    sum(terms.values()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
    assert all(torch.isfinite(v) for v in terms.values())
    model.zero_grad(set_to_none=True)


def test_local_checkpoint_file_round_trip(tiny, tmp_path) -> None:
    model = tiny.model
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": model.state_dict(), "model_name": "cyclip-tiny"}, path)
    loaded = create_model("cyclip-tiny", pretrained=str(path)).model
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    assert torch.equal(
        create_model("cyclip-tiny", pretrained=str(plain)).model.logit_scale, model.logit_scale
    )


def test_overrides_pass_through_and_none_is_dropped() -> None:
    bundle = create_model("cyclip-tiny", force_context_length=8, force_image_size=None)
    assert bundle.tokenizer(["a b c"]).shape == (1, 8)
    assert bundle.model.visual.image_size == (32, 32)


@pytest.mark.parametrize(
    "name,pretrained,error,match",
    [
        ("cyclip-smal", None, ValueError, "cyclip-small"),
        ("cyclip-tiny", "laion400m_e32", ValueError, "unknown pretrained tag"),
        ("cyclip-tiny", "/nonexistent/weights.pt", FileNotFoundError, "not found"),
    ],
)
def test_errors_tell_the_user_what_to_do(name, pretrained, error, match) -> None:
    with pytest.raises(error, match=match):
        create_model(name, pretrained=pretrained)
