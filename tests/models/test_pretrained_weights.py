"""Pretrained weights: errors that name the mismatch and its fix, and a one-line note on success
(issue 20, item 6)."""

from __future__ import annotations

import json
import logging

import open_clip
import pytest
import torch

from cyclip.models import create_model

TEXT = {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}
TINY_RN = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8}  # OpenAI's ModifiedResNet


@pytest.fixture(scope="module")
def tiny_rn_name(tmp_path_factory) -> str:
    """A tiny ResNet CLIP config registered with open_clip (as RN50 is, only small)."""
    folder = tmp_path_factory.mktemp("configs")
    cfg = {"embed_dim": 32, "quick_gelu": True, "vision_cfg": TINY_RN, "text_cfg": TEXT}
    (folder / "test-tiny-rn.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    return "test-tiny-rn"


def test_a_size_mismatch_names_the_keys_both_shapes_and_the_image_size(tiny_rn_name, tmp_path):
    path = tmp_path / "rn.pt"
    torch.save(create_model(tiny_rn_name).model.state_dict(), path)
    with pytest.raises(ValueError) as err:
        create_model(tiny_rn_name, pretrained=str(path), force_image_size=32)
    message = str(err.value)
    assert "\n" not in message
    assert "visual.attnpool.positional_embedding" in message
    assert "weights (5, 256)" in message and "model (2, 256)" in message
    assert "trained at image size 64" in message and "force-image-size" in message
    assert "weights_only" not in message  # the file is fine; the architecture is not


def test_loading_says_which_file_how_many_tensors_and_what_was_resized(tmp_path, caplog):
    path = tmp_path / "tiny.pt"
    state = create_model("cyclip-tiny").model.state_dict()
    torch.save(state, path)
    with caplog.at_level(logging.INFO):
        create_model("cyclip-tiny", pretrained=str(path))
        create_model("cyclip-tiny", pretrained=str(path), force_image_size=64)
    notes = [
        r.getMessage() for r in caplog.records if "loaded pretrained weights" in r.getMessage()
    ]
    assert len(notes) == 2
    assert str(path) in notes[0] and f"{len(state)} tensors" in notes[0]
    assert "resized" not in notes[0]
    assert "resized the image position embedding from 4x4 to 8x8" in notes[1]
