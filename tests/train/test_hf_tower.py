"""Training a CLIP model whose text tower is a pretrained HF encoder (all-MiniLM-L6-v2): LiT
locking, partial unlocking, full training; checkpoints that cyclip eval and open_clip load."""

from __future__ import annotations

import copy

import open_clip
import pytest
import torch

from cyclip.evaluation.load import load_model
from cyclip.losses import CyCLIPLoss
from cyclip.models import create_model, text_tower_kwargs
from cyclip.safe_load import load_weights_only
from cyclip.train import train
from cyclip.train.loop import TrainStep
from cyclip.train.optim import build_optimizer

from .conftest import tiny_config

CPU = torch.device("cpu")
CTX = 16
CAPTIONS = ["a red square", "two blue circles", "a small green triangle left of a star", "x"]


@pytest.fixture(scope="module")
def base(minilm_dir):
    torch.manual_seed(0)
    return create_model(
        "cyclip-small-minilm",
        text_tower=minilm_dir,
        force_image_size=32,
        force_context_length=CTX,
    )


@pytest.mark.parametrize("unlocked", [0, 2, None], ids=["locked", "last-2-unlocked", "trained"])
def test_a_step_reaches_every_unlocked_parameter_and_no_locked_one(base, unlocked):
    model = copy.deepcopy(base.model).train()
    if unlocked is not None:
        model.lock_text_tower(unlocked_layers=unlocked)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=CPU)
    step = TrainStep(model, model, CyCLIPLoss(0.25, 0.25), opt, device=CPU, precision="fp32")
    batch = {"images": torch.randn(4, 3, 32, 32), "texts": base.tokenizer(CAPTIONS)}
    losses, _ = step.accumulate_gradients([batch])
    assert all(torch.isfinite(v) for v in losses.values())
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
    text = dict(model.text.transformer.named_parameters())
    n_trainable = sum(p.requires_grad for p in text.values())
    layers = {None: len(text), 0: 0}  # 2 unlocked BERT layers: 16 tensors each
    assert n_trainable == layers.get(unlocked, 32)
    assert model.text.proj.weight.requires_grad and model.visual.proj.requires_grad


def test_a_locked_tower_run_checkpoints_for_cyclip_eval_and_open_clip(
    base, minilm_dir, tmp_path, monkeypatch
):
    """LiT: after training the locked encoder is the pretrained one, the projection moved; the
    checkpoint records the tower's absolute path, so eval and open_clip rebuild it anywhere."""
    monkeypatch.chdir(minilm_dir.parent)  # a relative --model.text-tower, resolved at save time
    cfg = tiny_config(
        tmp_path,
        model={
            "name": "cyclip-small-minilm",
            "text_tower": minilm_dir.name,
            "lock_text": True,
            "force_image_size": 32,
            "force_context_length": CTX,
        },
        data={"batch_size": 4, "train_num_samples": 8},
        optim={"max_steps": 2, "warmup_steps": 1},
    )
    result = train(cfg)
    payload = load_weights_only(result.checkpoint)
    overrides = payload["model_overrides"]
    assert overrides == {
        "force_image_size": 32,
        "force_context_length": CTX,
        "text_tower": str(minilm_dir.resolve()),
    }
    state = payload["state_dict"]
    pretrained = base.model.state_dict()
    encoder = [k for k in state if k.startswith("text.transformer.")]
    assert len(encoder) > 90 and all(torch.equal(state[k], pretrained[k]) for k in encoder)
    assert not torch.equal(state["text.proj.weight"], pretrained["text.proj.weight"])

    monkeypatch.chdir(tmp_path)  # elsewhere: the recorded absolute path still resolves
    loaded = load_model(result.checkpoint)
    assert loaded.info.step == 2 and loaded.info.fingerprint is not None
    assert all(torch.equal(v, state[k]) for k, v in loaded.bundle.model.state_dict().items())

    extra = text_tower_kwargs(
        payload["model_name"],
        overrides["text_tower"],
        context_length=overrides["force_context_length"],
        load_tower_weights=False,
    )
    plain = open_clip.create_model(
        payload["model_name"], pretrained=str(result.checkpoint), force_image_size=32, **extra
    ).eval()
    tokens = loaded.bundle.tokenizer(CAPTIONS)
    with torch.no_grad():
        torch.testing.assert_close(
            plain.encode_text(tokens), loaded.bundle.model.encode_text(tokens)
        )


def test_a_missing_text_tower_is_a_config_error(tmp_path):
    from cyclip.train.config_checks import validate

    cfg = tiny_config(tmp_path, model={"text_tower": str(tmp_path / "nope")})
    (problem,) = validate(cfg)
    assert problem.startswith("--model.text-tower: text tower folder not found")


@pytest.mark.slow
def test_a_two_process_gloo_run_trains_the_hf_tower_model(minilm_dir, base, tmp_path):
    """torchrun like any other model. Not a parity test: BERT's dropout draws differ per rank."""
    import json
    import os
    import subprocess
    import sys

    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "cyclip", "train",
        "--model.name", "cyclip-small-minilm", "--model.text-tower", str(minilm_dir),
        "--model.lock-text", "--model.force-image-size", "32",
        "--model.force-context-length", str(CTX),
        "--data.train-data", "builtin:shapes/pretrain", "--data.train-num-samples", "32",
        "--data.batch-size", "4", "--data.workers", "0", "--data.val-data", "None",
        "--optim.max-steps", "3", "--optim.warmup-steps", "1",
        "--run.output-dir", str(tmp_path), "--run.name", "ddp", "--run.log-every", "1",
        "--run.no-tensorboard", "--run.no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3] and lines[-1]["samples"] == 24
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in lines)
    state = load_model(tmp_path / "ddp" / "checkpoints" / "latest.pt").bundle.model.state_dict()
    pretrained = base.model.state_dict()
    encoder = [k for k in state if k.startswith("text.transformer.")]
    assert all(torch.equal(state[k], pretrained[k]) for k in encoder)  # locked on both ranks


def test_an_unreachable_hub_tower_is_a_config_error(tmp_path, monkeypatch):
    """Offline, the config's hub id fails as one ConfigError line naming --model.text-tower."""
    from cyclip.train.config_file import ConfigError

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(open_clip.hf_model.AutoConfig, "from_pretrained", offline)
    monkeypatch.setattr(open_clip.tokenizer, "HFTokenizer", offline)
    cfg = tiny_config(tmp_path, model={"name": "cyclip-small-minilm"})
    with pytest.raises(ConfigError, match="cannot load text tower 'sentence-transformers/all-Mini"):
        train(cfg)
