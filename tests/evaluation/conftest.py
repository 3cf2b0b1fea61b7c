from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_bundle():
    from cyclip.models import create_model

    torch.manual_seed(0)
    bundle = create_model("cyclip-tiny")
    bundle.model.eval()
    return bundle


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_bundle):
    """A run directory with a cyclip-tiny checkpoint in the trainer's layout."""
    run = tmp_path_factory.mktemp("run")
    (run / "checkpoints").mkdir()
    (run / "config.yaml").write_text("model:\n  name: cyclip-tiny\n")
    torch.save(
        {
            "state_dict": tiny_bundle.model.state_dict(),
            "model_name": "cyclip-tiny",
            "model_overrides": {},
            "step": 7,
            "epoch": 0,
            "config": {"model": {"name": "cyclip-tiny"}},
            "cyclip_version": "0.1.0",
        },
        run / "checkpoints" / "latest.pt",
    )
    return run


def _real(shared_data: Path, name: str) -> Path:
    path = shared_data / name
    if not path.is_dir():
        pytest.skip(f"real data set {name} not found at {path}")
    return path


@pytest.fixture
def cifar10_mini(shared_data) -> Path:
    """../shared/data/cifar10-test-mini (``shared_data`` skips when the folder is absent)."""
    return _real(shared_data, "cifar10-test-mini")


@pytest.fixture
def coco_mini(shared_data) -> Path:
    return _real(shared_data, "coco-mini")
