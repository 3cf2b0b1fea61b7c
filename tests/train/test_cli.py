"""``cyclip train``: invalid input exits with code 2 and one line before any work; help."""

from __future__ import annotations

import pytest

from cyclip.cli import train as cli
from cyclip.train.logging import wandb_installed


def run_cli(argv: list[str], capsys) -> tuple[int, list[str], str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line.strip()], out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--model.name", "cyclip-tinny"], "unknown model 'cyclip-tinny' (closest: cyclip-tiny"),
        (["--optim.lr", "-0.1"], "--optim.lr must be a positive number, got -0.1"),
        (["--loss.lambda-inmodal", "-1"], "--loss.lambda_inmodal must be a finite number >= 0"),
        (["--data.train-data", "/nonexistent/pairs.csv"], "not found: /nonexistent/pairs.csv"),
        (
            ["--data.train-data", "builtin:shapes/pretrian"],
            "Did you mean 'shapes/pretrain'",
        ),
        (["--data.batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--optim.precision", "fp8"], "invalid choice 'fp8'"),
        (["--optim.precision", "fp16", "--run.device", "cpu"], "fp16 needs a GPU"),
        (["--optim.lr", "abc"], "could not convert string to float: 'abc'"),
        (["--optim.lrr", "0.1"], "did you mean --optim.lr?"),
        (["--loss.name", "clip", "--loss.lambda-crossmodal", "0.5"], "use --loss.name cyclip"),
        (["--run.resume", "/nonexistent/ckpt.pt"], "--run.resume: no checkpoint"),
        (["--config"], "--config needs a file name"),
    ],
)
def test_invalid_input_exits_2_with_one_line(argv, expected, tmp_path, capsys):
    code, lines, _ = run_cli(argv + ["--run.output-dir", str(tmp_path)], capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("cyclip train: error: ")
    assert expected in lines[0]
    assert "Traceback" not in lines[0]
    assert not any(tmp_path.iterdir())  # validation happens before any work


@pytest.mark.skipif(wandb_installed(), reason="wandb is installed here")
def test_wandb_without_the_package_exits_2(tmp_path, capsys):
    code, lines, _ = run_cli(["--run.wandb", "--run.output-dir", str(tmp_path)], capsys)
    assert code == 2 and len(lines) == 1 and "pip install wandb" in lines[0]


def test_config_file_typo_exits_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  warmup_step: 10\n")
    code, lines, _ = run_cli(["--config", str(path)], capsys)
    assert code == 2 and len(lines) == 1
    assert "unknown key 'optim.warmup_step'" in lines[0] and "'optim.warmup_steps'" in lines[0]


def test_an_existing_run_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "metrics.jsonl").write_text('{"step": 1}\n')
    code, lines, _ = run_cli(["--run.output-dir", str(tmp_path), "--run.name", "taken"], capsys)
    assert code == 2 and len(lines) == 1
    assert "already holds a run; continue it with --run.resume latest" in lines[0]


def test_several_problems_give_one_line_each(tmp_path, capsys):
    code, lines, _ = run_cli(
        ["--optim.lr", "-1", "--optim.accum-steps", "0", "--run.output-dir", str(tmp_path)], capsys
    )
    assert code == 2 and len(lines) == 2


def test_help_is_readable(capsys):
    code, _, out = run_cli(["--help"], capsys)
    assert code == 0
    for flag in ("--config", "--optim.lr", "--loss.name", "--run.resume", "--data.batch-size"):
        assert flag in out
    assert "Peak learning rate" in out  # field docstrings become the help text


def test_the_deprecated_loss_method_flag_warns_in_one_line(tmp_path, capsys):
    argv = ["--loss.method", "naive", "--optim.lr", "-1", "--run.output-dir", str(tmp_path)]
    code, lines, _ = run_cli(argv, capsys)
    assert code == 2
    assert lines[0] == (
        "cyclip train: warning: '--loss.method' is deprecated; use '--loss.cyclic-impl'"
    )
    assert len(lines) == 2 and "--optim.lr must be a positive number" in lines[1]
