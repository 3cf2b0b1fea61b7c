"""Runs with a sentence term: resume bit-exact with the NLI stream, the staged variant end to end,
and the config errors of the sentence settings."""

from __future__ import annotations

import pytest
import torch

from cyclip.data.sentences import with_triplets
from cyclip.models import create_model
from cyclip.models.text_init import text_tower_state
from cyclip.train import ModelConfig, train
from cyclip.train.checkpoint import load_checkpoint
from cyclip.train.config_file import ConfigError
from cyclip.train.rng import seed_everything
from cyclip.train.setup import build_model

from .conftest import tiny_config
from .fakes import TensorPairLoader

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tokenizer():
    return create_model("cyclip-tiny").tokenizer


def nli_csv(tmp_path, n: int = 20) -> str:
    words = ["red", "blue", "small", "large", "circle", "square", "left", "right"]
    lines = ["sent0,sent1,hard_neg"]
    for i in range(n):
        a, b = words[i % 8], words[(3 * i + 1) % 8]
        lines.append(f"a {a} {b} shape {i},a {a} shape,no {b} shape at all")
    path = tmp_path / "nli.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_supervised_run_resumes_bit_exactly(tmp_path, tokenizer):
    csv = nli_csv(tmp_path)
    sections = {
        "run": {"deterministic": True, "checkpoint_every": 4, "keep_last": 10},
        "loss": {"sentence_term": "supervised", "lambda_sentence": 0.5},
        "data": {"sentence_data": csv, "sentence_batch_size": 3},
    }

    def loader():  # 8 batches per epoch, 6 triplet batches per epoch: the streams drift apart
        return with_triplets(TensorPairLoader(64, batch_size=8), csv, tokenizer, batch_size=3)

    reference = train(tiny_config(tmp_path, "ref", **sections), loader=loader())
    cut = reference.run_dir / "checkpoints" / "step_00000004.pt"
    resumed = train(
        tiny_config(
            tmp_path, "res", **{**sections, "run": {**sections["run"], "resume": str(cut)}}
        ),
        loader=loader(),
    )
    assert resumed.step == reference.step == 16
    assert reference.metrics["sentence_loss"] > 0
    ref, res = load_checkpoint(reference.checkpoint), load_checkpoint(resumed.checkpoint)
    for name, tensor in ref["state_dict"].items():
        assert torch.equal(tensor, res["state_dict"][name]), name
    assert resumed.metrics["loss"] == reference.metrics["loss"]


def test_staged_run_starts_the_joint_stage_from_the_text_stage(tmp_path):
    text = train(
        tiny_config(
            tmp_path,
            "text",
            run={"stage": "text"},
            loss={"sentence_term": "unsupervised"},
            optim={"max_steps": 3},
        ),
        loader=TensorPairLoader(64, batch_size=8),
    )
    assert set(text.metrics) >= {"loss", "sentence_loss"} and "contrastive_loss" not in text.metrics
    saved = load_checkpoint(text.checkpoint)["state_dict"]
    seed_everything(0)  # as the text stage started
    init = create_model("cyclip-tiny").model.state_dict()
    assert torch.equal(saved["visual.conv1.weight"], init["visual.conv1.weight"])  # frozen
    assert not torch.equal(saved["token_embedding.weight"], init["token_embedding.weight"])
    bundle = build_model(ModelConfig(name="cyclip-tiny", text_init=str(text.run_dir)), CPU)
    loaded = bundle.model.state_dict()
    for name, value in text_tower_state(saved).items():
        assert torch.equal(loaded[name], value), name
    joint = train(
        tiny_config(
            tmp_path, "joint", model={"text_init": str(text.run_dir)}, optim={"max_steps": 2}
        ),
        loader=TensorPairLoader(64, batch_size=8),
    )
    assert joint.step == 2 and "contrastive_loss" in joint.metrics


@pytest.mark.parametrize(
    "sections,message",
    [
        ({"run": {"stage": "text"}}, "--run.stage text trains the text tower"),
        ({"loss": {"sentence_term": "supervised"}}, "needs NLI triplets"),
        ({"data": {"sentence_data": "x.csv"}}, "no such file"),
        ({"model": {"text_init": "nowhere"}}, "--model.text-init nowhere"),
        ({"loss": {"sentence_term": "unsupervised", "sentence_temperature": 0}}, "temperature"),
    ],
)
def test_sentence_settings_are_checked_before_any_work(tmp_path, sections, message):
    with pytest.raises(ConfigError, match=message):
        train(tiny_config(tmp_path, **sections), loader=TensorPairLoader(64))
