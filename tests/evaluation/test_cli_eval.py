import json

import pytest

from cyclip.cli.eval import main

TEST = "builtin:shapes/shape/test?size=20&image_size=32"
TRAIN = "builtin:shapes/shape/train?size=30&image_size=32"


def test_zeroshot_into_run_dir_then_cached(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    argv = [
        "--checkpoint",
        ckpt,
        "--task",
        "zeroshot",
        "--data",
        TEST,
        "--train-data",
        TRAIN,
        "--workers",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "zero_shot" in out and "consistency@10" in out
    (path,) = (tiny_run / "eval").glob("shapes__shape__test__zeroshot__*.json")
    first = json.loads(path.read_text())
    assert first["model"]["checkpoint"] == str((tiny_run / "checkpoints" / "latest.pt").resolve())
    assert first["dataset"]["train_source"] == TRAIN
    assert not any(e["cached"] for e in first["timing"]["extraction"])

    assert main(argv) == 0
    second = json.loads(path.read_text())
    assert all(e["cached"] for e in second["timing"]["extraction"])
    assert second["metrics"] == first["metrics"]


def test_retrieval_and_geometry_to_output_dir(tiny_run, tmp_path):
    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    common = ["--checkpoint", ckpt, "--workers", "0", "--no-cache", "--output-dir", str(tmp_path)]
    assert (
        main(
            [
                *common,
                "--task",
                "retrieval",
                "--data",
                "builtin:shapes/retrieval?size=8&image_size=32",
            ]
        )
        == 0
    )
    assert (
        main([*common, "--task", "geometry", "--data", "builtin:shapes/val?size=8&image_size=32"])
        == 0
    )
    names = sorted(p.name.rsplit("__", 1)[0] for p in tmp_path.glob("*.json"))
    assert names == ["shapes__retrieval__retrieval", "shapes__val__geometry"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "zeroshot", "--data", TEST], "nothing to evaluate"),
        (["--model", "cyclip-tiny", "--task", "zeroshot"], "needs --data"),
        (["--model", "cyclip-tiny"], "choose what to run"),
        (["--model", "cyclip-tiny", "--suite", "builtin", "--data", TEST], "brings its own data"),
        (["--model", "no-such-model", "--task", "zeroshot", "--data", TEST], "unknown model"),
        (["--model", "cyclip-tiny", "--task", "retrieval", "--data", "/no/such/dir"], "not found"),
        (["--task", "bogus"], "invalid choice"),
    ],
)
def test_invalid_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("cyclip eval: error:")


@pytest.mark.parametrize("where", ["under-a-file", "the-file-itself"])
def test_an_unusable_cache_dir_degrades_to_no_cache_and_still_writes(
    tiny_run, tmp_path, capsys, where
):
    """``--cache-dir`` (or ``CYCLIP_CACHE``) below a regular file: one warning line, the
    features are computed, the result is written, exit 0."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    cache = blocker / "cache" if where == "under-a-file" else blocker
    argv = ["--checkpoint", str(tiny_run / "checkpoints" / "latest.pt"), "--task", "zeroshot"]
    argv += ["--data", TEST, "--workers", "0", "--cache-dir", str(cache)]
    argv += ["--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    err = [x for x in capsys.readouterr().err.splitlines() if "cache" in x]
    assert len(err) == 1 and err[0].startswith("cyclip eval: warning:"), err
    assert str(blocker) in err[0]
    assert len(list((tmp_path / "out").glob("*.json"))) == 1


@pytest.fixture
def other_weights(tmp_path):
    """State dicts that do not fit cyclip-tiny: cyclip-small's, and tiny's without one key."""
    import torch

    from cyclip.models import create_model

    small = tmp_path / "small_sd.pt"
    torch.save(create_model("cyclip-small").model.state_dict(), small)
    tiny = dict(create_model("cyclip-tiny").model.state_dict())
    dropped = next(iter(tiny))
    del tiny[dropped]
    missing = tmp_path / "tiny_missing.pt"
    torch.save(tiny, missing)
    return small, missing, dropped


@pytest.mark.parametrize("how", ["--pretrained", "--checkpoint"])
def test_weights_of_another_architecture_are_one_line(other_weights, tmp_path, capsys, how):
    small, _, _ = other_weights
    argv = ["--model", "cyclip-tiny", how, str(small), "--task", "zeroshot", "--data", TEST]
    assert main([*argv, "--no-cache", "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "small_sd.pt" in err[0] and "cyclip-tiny" in err[0], err


def test_a_missing_key_is_named(other_weights, tmp_path, capsys):
    _, missing, dropped = other_weights
    argv = ["--model", "cyclip-tiny", "--pretrained", str(missing), "--task", "zeroshot"]
    assert main([*argv, "--data", TEST, "--no-cache", "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and dropped in err[0], err


def test_checkpoint_given_as_a_run_directory_uses_its_latest(tiny_run, tmp_path, capsys):
    argv = ["--checkpoint", str(tiny_run), "--task", "zeroshot", "--data", TEST, "--no-cache"]
    assert main([*argv, "--workers", "0", "--output-dir", str(tmp_path / "o")]) == 0
    assert main([*argv, "--checkpoint", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "holds no checkpoint" in err[-1], err
