"""Result files never overwrite another evaluation's result, and the report labels each one
distinctly (two folders called ``test``; two checkpoints of one run on one dataset)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from cyclip.cli.eval import main
from cyclip.evaluation.schema import evaluation_id, make_result, write_result
from cyclip.report.build import build_document
from cyclip.report.collect import datasets_with, disambiguate
from cyclip.report.runs import load_run

TEST = "builtin:shapes/shape/test?size=12&image_size=32"


def _image_folder(root, colours):
    for name, rgb in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), tuple(min(255, c + 20 * i) for c in rgb)).save(
                root / name / f"{i}.png"
            )
    return root


def _eval(*argv) -> None:
    assert main(["--workers", "0", "--no-cache", "--task", "zeroshot", *argv]) == 0


def test_two_folders_named_test_keep_both_results_with_distinct_labels(tiny_run, tmp_path):
    clothing = _image_folder(
        tmp_path / "clothing" / "test", {"shirt": (200, 0, 0), "hat": (0, 0, 200)}
    )
    cifar = _image_folder(tmp_path / "cifar" / "test", {"cat": (0, 200, 0), "dog": (90, 90, 90)})
    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    out = tmp_path / "run"
    (out / "eval").mkdir(parents=True)
    for data in (clothing, cifar):
        _eval("--checkpoint", ckpt, "--data", str(data), "--output-dir", str(out / "eval"))
    files = sorted((out / "eval").glob("*.json"))
    assert len(files) == 2, "the second folder's result replaced the first"
    classes = sorted(tuple(json.loads(f.read_text())["details"]["classnames"]) for f in files)
    assert classes == [("cat", "dog"), ("hat", "shirt")]

    run = load_run(out)
    disambiguate([run])
    assert datasets_with([run], "zero_shot") == ["cifar/test", "clothing/test"]


def test_two_checkpoints_of_one_run_on_one_dataset(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    payload = torch.load(tiny_run / "checkpoints" / "latest.pt", weights_only=True)
    for step, name in ((20, "step_00000020.pt"), (40, "latest.pt")):
        payload["step"] = step
        torch.save(payload, run_dir / "checkpoints" / name)
        _eval("--checkpoint", str(run_dir / "checkpoints" / name), "--data", TEST)
    files = sorted((run_dir / "eval").glob("*.json"))
    assert len(files) == 2
    assert sorted(json.loads(f.read_text())["model"]["step"] for f in files) == [20, 40]

    run = load_run(run_dir)
    disambiguate([run])
    labels = datasets_with([run], "zero_shot")
    assert labels == ["shapes/shape/test", "shapes/shape/test @ step 20"]
    assert "shapes/shape/test @ step 20" in json.dumps(
        [t.rows for s in build_document([run]).sections for t in s.tables]
    )


def _result(checkpoint: str) -> dict:
    model = {"name": "cyclip-tiny", "checkpoint": checkpoint, "fingerprint": checkpoint}
    dataset = {"source": "data/test", "name": "test", "n": 3}
    timing = {"total_s": 0.0, "metrics_s": 0.0, "extraction": []}
    return make_result("geometry", model, dataset, {"geometry": {"alignment": 0.5}}, timing)


def test_write_result_refuses_to_overwrite_another_evaluation(tmp_path):
    first, again, other = _result("a.pt"), _result("a.pt"), _result("b.pt")
    assert evaluation_id(first) == evaluation_id(again) != evaluation_id(other)
    write_result(first, tmp_path, "r.json")
    write_result(again, tmp_path, "r.json")  # a re-run of the same evaluation replaces it
    with pytest.raises(FileExistsError, match="another evaluation"):
        write_result(other, tmp_path, "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["model"]["checkpoint"] == "a.pt"


def test_other_class_names_on_the_same_images_are_another_evaluation(tiny_run, tmp_path):
    data = _image_folder(tmp_path / "pets", {"cat": (0, 200, 0), "dog": (90, 90, 90)})
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"cat": "kitten", "dog": "puppy"}))
    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    out = str(tmp_path / "out")
    _eval("--checkpoint", ckpt, "--data", str(data), "--output-dir", out)
    _eval(
        "--checkpoint", ckpt, "--data", str(data), "--output-dir", out, "--classnames", str(names)
    )
    files = sorted((tmp_path / "out").glob("*.json"))
    classes = sorted(tuple(json.loads(f.read_text())["details"]["classnames"]) for f in files)
    assert classes == [("cat", "dog"), ("kitten", "puppy")]
