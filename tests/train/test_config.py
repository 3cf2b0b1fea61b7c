"""Config files (YAML / TOML), flag precedence, key and type checking."""

from __future__ import annotations

import dataclasses

import pytest

from cyclip.cli.train import parse_args, split_config_flag
from cyclip.train import ConfigError, TrainConfig, apply_mapping, config_to_dict, load_config
from cyclip.train.config_file import DeprecatedKeyWarning, valid_keys


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_sections_set_nested_fields_and_scientific_notation_is_a_float(tmp_path):
    path = write(
        tmp_path,
        "run.yaml",
        "model:\n  name: cyclip-tiny\nloss:\n  name: clip\noptim:\n  lr: 1e-4\n  epochs: 3\n"
        "  grad_clip_norm: null\ndata:\n  batch_size: 32\nrun:\n  tensorboard: false\n",
    )
    cfg = load_config(path)
    assert cfg.model.name == "cyclip-tiny" and cfg.loss.name == "clip"
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)  # PyYAML reads "1e-4" as str
    assert cfg.optim.epochs == 3 and cfg.data.batch_size == 32 and cfg.run.tensorboard is False
    assert cfg.run.seed == TrainConfig().run.seed  # untouched keys keep their defaults


def test_toml_file(tmp_path):
    path = write(
        tmp_path,
        "run.toml",
        '[optim]\nlr = 0.002\nprecision = "bf16"\n[loss]\nlambda_inmodal = 0.0\n',
    )
    cfg = load_config(path)
    assert cfg.optim.lr == 0.002 and cfg.optim.precision == "bf16"
    assert cfg.loss.lambda_inmodal == 0.0


def test_flags_override_the_file_which_overrides_defaults(tmp_path):
    path = write(tmp_path, "run.yaml", "optim:\n  lr: 0.5\n  epochs: 7\nloss:\n  name: clip\n")
    cfg = parse_args(["--config", str(path), "--optim.lr", "0.25", "--run.name", "x"])
    assert cfg.optim.lr == 0.25  # flag beats file
    assert cfg.optim.epochs == 7 and cfg.loss.name == "clip"  # file beats default
    assert cfg.run.name == "x"
    cfg2 = parse_args([f"--config={path}", "--optim.epochs", "2"])
    assert cfg2.optim.epochs == 2 and cfg2.optim.lr == 0.5


def test_typo_in_a_key_names_it_and_the_closest_valid_key(tmp_path):
    path = write(tmp_path, "run.yaml", "optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'optim\.lrr'.*did you mean 'optim\.lr'"):
        load_config(path)


def test_key_in_the_wrong_section_points_to_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown key 'warmup_steps'.*'optim\.warmup_steps'"):
        apply_mapping(TrainConfig(), {"warmup_steps": 10})


def test_values_of_the_wrong_type_are_rejected_with_key_and_value():
    with pytest.raises(ConfigError, match=r"'optim\.epochs' expects int, got 'ten'"):
        apply_mapping(TrainConfig(), {"optim": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"'optim\.precision' must be one of .*got 'fp8'"):
        apply_mapping(TrainConfig(), {"optim": {"precision": "fp8"}})
    with pytest.raises(ConfigError, match=r"'optim' is a section"):
        apply_mapping(TrainConfig(), {"optim": 3})


def test_resolved_config_round_trips_through_plain_data():
    cfg = dataclasses.replace(
        TrainConfig(), optim=dataclasses.replace(TrainConfig().optim, lr=0.123)
    )
    cfg = cfg.resolved()
    assert cfg.loss.lambda_inmodal == 0.25 and cfg.loss.lambda_crossmodal == 0.25
    assert apply_mapping(TrainConfig(), config_to_dict(cfg)) == cfg


def test_clip_resolves_both_lambdas_to_zero():
    cfg = apply_mapping(TrainConfig(), {"loss": {"name": "clip"}}).resolved()
    assert (cfg.loss.lambda_inmodal, cfg.loss.lambda_crossmodal) == (0.0, 0.0)


def test_every_config_field_is_a_flag():
    assert {"optim.lr", "loss.name", "run.resume", "data.batch_size", "model.lock_image"} <= set(
        valid_keys()
    )


def test_split_config_flag():
    assert split_config_flag(["--a", "1", "--config", "f.yaml", "--b"]) == (
        "f.yaml",
        ["--a", "1", "--b"],
    )
    with pytest.raises(ValueError, match="--config needs a file name"):
        split_config_flag(["--config"])


def test_the_renamed_loss_method_key_still_works_with_a_warning(tmp_path):
    path = write(tmp_path, "old.yaml", "loss:\n  method: naive\n")
    with pytest.warns(
        DeprecatedKeyWarning, match=r"'loss\.method' is deprecated; use 'loss\.cyclic_impl'"
    ):
        assert load_config(path).loss.cyclic_impl == "naive"
    with pytest.raises(ConfigError, match="not both"):
        apply_mapping(TrainConfig(), {"loss": {"method": "naive", "cyclic_impl": "gram"}})
    with pytest.warns(DeprecatedKeyWarning, match=r"--loss\.method"):
        assert parse_args(["--loss.method=gram"]).loss.cyclic_impl == "gram"
