"""The validation loss of ``--run.eval-every``."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from cyclip.models import create_model
from cyclip.train.heldout import ValidationLoss, chunked_validation_metrics


def test_identical_features_give_log_n_and_zero_residuals_per_chunk():
    features = torch.nn.functional.normalize(torch.ones(10, 4), dim=-1)
    metrics = chunked_validation_metrics(features, features, logit_scale=10.0, batch_size=4)
    assert metrics["val_pairs"] == 8  # two chunks of 4; the partial third is dropped
    assert metrics["val_contrastive_loss"] == pytest.approx(math.log(4))
    assert metrics["val_inmodal_residual"] == pytest.approx(0.0, abs=1e-7)
    assert metrics["val_crossmodal_residual"] == pytest.approx(0.0, abs=1e-7)


def test_perfectly_aligned_orthogonal_pairs_have_near_zero_loss():
    eye = torch.eye(6)
    metrics = chunked_validation_metrics(eye, eye, logit_scale=100.0, batch_size=6)
    assert metrics["val_contrastive_loss"] == pytest.approx(5 * math.exp(-100), abs=1e-12)
    assert metrics["val_pairs"] == 6


def test_validation_loss_on_a_csv_of_images(tmp_path):
    rows = ["image,caption"]
    for i in range(6):
        Image.new("RGB", (40, 40), (40 * i, 255 - 40 * i, 90)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,a square of colour number {i}")
    (tmp_path / "val.csv").write_text("\n".join(rows) + "\n")
    torch.manual_seed(0)
    bundle = create_model("cyclip-tiny")
    validation = ValidationLoss(
        str(tmp_path / "val.csv"),
        bundle.preprocess_val,
        bundle.tokenizer,
        batch_size=4,
        workers=0,
        device=torch.device("cpu"),
        precision="fp32",
    )
    first = validation(bundle.model)
    assert first["val_pairs"] == 4 and math.isfinite(first["val_contrastive_loss"])
    assert bundle.model.training  # the model is put back in training mode
    (tmp_path / "val.csv").unlink()  # the second evaluation reads the in-memory cache
    assert validation(bundle.model) == first
