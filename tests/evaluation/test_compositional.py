"""Compositional scoring on hand-made features, the readers on small files, the task end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cyclip.evaluation.compositional import (
    accuracy_by_category,
    blind_preferences,
    chance_by_category,
    correct,
    group_scores,
    preferences,
    protocol,
)
from cyclip.evaluation.compositional_sets import (
    CompositionalSet,
    Item,
    open_compositional,
    read_compositional,
)
from cyclip.evaluation.features import CompositionalFeatures

E = torch.eye(4)  # unit vectors: cos(e_i, e_j) = [i == j]


def test_strict_preference_and_ties_count_wrong():
    images = E[:3]  # image k = e_k
    texts = torch.stack([E[0], E[1], E[0], F.normalize(E[0] + E[1], dim=0), E[2], E[3]])
    image_index = torch.tensor([0, 0, 1, 2])
    captions = torch.tensor(
        [
            [0, 1, -1],  # image 0: true e0 (1.0) vs e1 (0.0): right
            [0, 2, -1],  # image 0: identical embeddings, a tie: wrong
            [3, 0, 1],  # image 1: (e0+e1)/√2 (0.707) vs e0 (0) and e1 (1.0): wrong
            [4, 5, -1],  # image 2: e2 (1.0) vs e3 (0): right
        ]
    )
    sims = preferences(images, texts, image_index, captions)
    assert sims[0].tolist() == [1.0, 0.0, -math.inf]
    assert correct(sims).tolist() == [True, False, False, True]


def test_accuracy_per_category_family_and_overall():
    right = torch.tensor([True, False, True, True, False, False])
    cats = ["swap_att", "swap_att", "swap_obj", "add_att", "add_att", "count"]
    by_cat, by_family = accuracy_by_category(right, cats)
    assert by_cat == {
        "swap_att": 50.0,
        "swap_obj": 100.0,
        "add_att": 50.0,
        "count": 0.0,
        "overall": 50.0,
        "mean_category": 50.0,
    }
    assert by_family == {"swap": pytest.approx(200 / 3), "add": 50.0, "count": 0.0}
    # Families are only reported when one of them groups two categories.
    assert accuracy_by_category(right[:2], cats[:2])[1] == {}
    n = torch.tensor([2, 2, 3, 2, 2, 4])
    chance = chance_by_category(n, cats, ["swap_att", "swap_obj", "add_att", "count"])
    assert chance["swap_obj"] == pytest.approx(100 / 3) and chance["count"] == 25.0


def test_blind_score_is_leave_one_image_out():
    torch.manual_seed(0)
    texts = F.normalize(torch.randn(7, 8), dim=-1)
    image_index = torch.tensor([0, 0, 1, 2, 2])
    # Image 0 has the same true caption twice (SugarCrepe repeats captions across categories).
    captions = torch.tensor([[0, 1], [0, 2], [3, 4], [5, 6], [5, 1]])
    got = blind_preferences(texts, image_index, captions)
    for n in range(5):
        others = {
            (int(image_index[m]), int(captions[m, 0]))
            for m in range(5)
            if image_index[m] != image_index[n]
        }
        mean = F.normalize(torch.stack([texts[c] for _, c in sorted(others)]).sum(0), dim=0)
        assert torch.allclose(got[n], texts[captions[n]] @ mean, atol=1e-6)
    with pytest.raises(ValueError, match="at least two images"):
        blind_preferences(texts, torch.zeros(2, dtype=torch.long), captions[:2])


def test_group_scores():
    sims = torch.tensor(
        [
            [[0.9, 0.1], [0.2, 0.8]],  # all right
            [[0.5, 0.1], [0.7, 0.8]],  # text right; caption 0 prefers image 1: image wrong
            [[0.5, 0.5], [0.1, 0.9]],  # image 0 ties between captions: text wrong
        ]
    )
    assert group_scores(sims) == pytest.approx(
        {"text": 200 / 3, "image": 200 / 3, "group": 100 / 3}
    )


def _set(items, n_images, missing=0):
    return CompositionalSet(
        "x", "x", images=list(range(n_images)), items=tuple(items), missing=missing
    )


def test_protocol_counts_missing_and_unreadable_images():
    items = [
        Item("a", 0, ("t0", "t1"), "swap_att"),
        Item("b", 1, ("t2", "t3"), "swap_att"),
        Item("c", 2, ("t4", "t5"), "add_obj"),  # its image is unreadable
    ]
    data = _set(items, 3, missing=4)
    data.missing_examples = ["f.json:9: gone.jpg"]
    # Item b's negative embeds like its true caption: a tie, scored wrong and counted.
    texts = {t: E[0] if t in ("t0", "t2", "t3") else E[1] for t in data.texts()}
    features = CompositionalFeatures(
        image_features=torch.stack([E[0], E[0], torch.zeros(4)]),
        readable=torch.tensor([True, True, False]),
        text_features=torch.stack([texts[t] for t in data.texts()]),
    )
    metrics, details, dataset = protocol(data, features)
    assert metrics["image_text"]["swap_att"] == 50.0 and "add_obj" not in metrics["image_text"]
    assert metrics["items"] == {
        "swap_att": 2.0,
        "overall": 2.0,
        "ties": 1.0,
        "missing_image": 4.0,
        "unreadable_image": 1.0,
    }
    assert dataset["n"] == 2 and dataset["skipped"] == 1 and dataset["missing_images"] == 4
    assert details["missing_examples"] == ["f.json:9: gone.jpg"]
    assert metrics["chance"]["overall"] == 50.0
    assert "text_only" in metrics  # two images: the blind baseline is defined


def _image(path, colour=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


def test_reader_sugarcrepe_layout_folder(tmp_path):
    images = tmp_path / "val2017"
    _image(images / "1.jpg")
    _image(images / "2.jpg")
    data = tmp_path / "sugar"
    data.mkdir()
    (data / "swap_att.json").write_text(
        json.dumps(
            {
                "0": {"filename": "1.jpg", "caption": "a red cat", "negative_caption": "a cat red"},
                "1": {"filename": "9.jpg", "caption": "x", "negative_caption": "y"},
            }
        )
    )
    (data / "add_obj.json").write_text(
        json.dumps({"5": {"filename": "1.jpg", "caption": "a cat", "negative_caption": "a dog"}})
    )
    (data / "notes.txt").write_text("ignored")
    opened = read_compositional(data, images)
    assert [(it.key, it.category, it.captions) for it in opened.items] == [
        ("add_obj.json:5", "add_obj", ("a cat", "a dog")),
        ("swap_att.json:0", "swap_att", ("a red cat", "a cat red")),
    ]
    assert opened.items[0].image == opened.items[1].image == 0  # one image, embedded once
    assert len(opened.images) == 1 and opened.total == 3 and opened.missing == 1
    assert opened.missing_examples == ["swap_att.json:1: 9.jpg"]
    assert opened.texts() == ["a cat", "a dog", "a red cat", "a cat red"]
    with pytest.raises(FileNotFoundError, match="pass --images"):
        read_compositional(data)  # images are not beside the JSON files


def test_reader_csv_with_several_negatives_and_jsonl_groups(tmp_path):
    _image(tmp_path / "img" / "a.png")
    _image(tmp_path / "img" / "b.jpg")
    (tmp_path / "aro.csv").write_text(
        "image,positive,negative_1,negative_2,category\n"
        "img/a.png,the horse eats grass,the grass eats horse,,relation\n"
        "img/b.jpg,a red car,a blue car,a car red,\n"
    )
    opened = read_compositional(tmp_path / "aro.csv")
    assert [it.captions for it in opened.items] == [
        ("the horse eats grass", "the grass eats horse"),
        ("a red car", "a blue car", "a car red"),
    ]
    assert [it.category for it in opened.items] == ["relation", "aro"]
    (tmp_path / "wino.jsonl").write_text(
        json.dumps({"id": 0, "image_0": "a", "image_1": "b", "caption_0": "p", "caption_1": "q"})
        + "\n"
        + json.dumps({"id": 1, "image_0": "a", "image_1": "z", "caption_0": "p", "caption_1": "r"})
    )
    groups = read_compositional(tmp_path / "wino.jsonl", tmp_path / "img")
    assert [(g.images, g.captions) for g in groups.groups] == [((0, 1), ("p", "q"))]
    assert groups.missing == 1 and groups.items == ()


def test_reader_refuses_malformed_input(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "a.jpg", "caption": "only"}]))
    with pytest.raises(ValueError, match="needs an image .* and negatives"):
        read_compositional(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_compositional(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_compositional(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="drop --images"):
        open_compositional("builtin:shapes/compositional?size=5", tmp_path)
    with pytest.raises(ValueError, match="not compositional"):
        open_compositional("builtin:shapes/val?size=5")


def test_task_end_to_end_with_an_unreadable_image(tiny_bundle, tmp_path):
    from cyclip.evaluation import ExtractConfig, ModelInfo, evaluate_model, open_task
    from cyclip.evaluation.registry import TaskRequest

    _image(tmp_path / "a.jpg", (200, 30, 30))
    _image(tmp_path / "b.jpg", (30, 30, 200))
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "set.csv").write_text(
        "image,positive,negative,category\n"
        "a.jpg,a red square,a blue square,replace_att\n"
        "b.jpg,a blue square,a red square,replace_att\n"
        "c.jpg,a square,a circle,replace_obj\n"
        "d.jpg,a square,a circle,replace_obj\n"
    )
    run = open_task("compositional", TaskRequest(data=str(tmp_path / "set.csv")))
    evaluation = evaluate_model(
        tiny_bundle,
        [run],
        output_dir=tmp_path / "out",
        extract=ExtractConfig(batch_size=2, workers=0),
        model_info=ModelInfo(name="cyclip-tiny"),
    )
    (result,) = evaluation.results.values()
    assert result["task"] == "compositional"
    assert result["metrics"]["items"]["missing_image"] == 1.0
    assert result["metrics"]["items"]["unreadable_image"] == 1.0
    assert result["dataset"]["n"] == 2 and result["metrics"]["items"]["overall"] == 2.0
    assert set(result["metrics"]["image_text"]) == {"replace_att", "overall", "mean_category"}
    assert evaluation.paths[0].name.startswith("set.csv__compositional__")


def test_cli_sugarcrepe_on_coco_mini(shared_data, tiny_run, tmp_path, capsys):
    from cyclip.cli.eval import main

    sugar, coco = shared_data / "sugar_crepe", shared_data / "coco-mini" / "val2017"
    if not sugar.is_dir() or not coco.is_dir():
        pytest.skip("SugarCrepe or coco-mini not in ../shared/data")
    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    common = ["--checkpoint", ckpt, "--task", "compositional", "--workers", "0", "--no-cache"]
    out = ["--output-dir", str(tmp_path)]
    assert main([*common, "--data", str(sugar), "--images", str(coco), *out]) == 0
    assert "7428 of 7511 items without their image" in capsys.readouterr().out
    (path,) = tmp_path.glob("sugar_crepe__compositional__*.json")
    result = json.loads(path.read_text())
    metrics = result["metrics"]
    assert result["dataset"]["n"] == 83 and metrics["items"]["missing_image"] == 7428
    categories = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att")
    assert set(categories + ("swap_obj",)) <= set(metrics["image_text"])
    assert set(metrics["image_text_family"]) == {"add", "replace", "swap"}
    assert sum(metrics["items"][c] for c in (*categories, "swap_obj")) == 83
    assert len(result["details"]["missing_examples"]) == 5
    # One category file; and no image found at all is a one-line error, exit 2.
    assert main([*common, "--data", str(sugar / "swap_att.json"), "--images", str(coco), *out]) == 0
    assert main([*common, "--data", str(sugar), *out]) == 2
    assert "pass --images" in capsys.readouterr().err


def test_cli_builtin_compositional(tiny_run, tmp_path):
    from cyclip.cli.eval import main

    ckpt = str(tiny_run / "checkpoints" / "latest.pt")
    data = "builtin:shapes/compositional?size=10&image_size=32"
    argv = ["--checkpoint", ckpt, "--task", "compositional", "--data", data, "--workers", "0"]
    cached = [*argv, "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path)]
    assert main(cached) == 0
    (path,) = tmp_path.glob("shapes__compositional__compositional__*.json")
    result = json.loads(path.read_text())
    metrics = result["metrics"]
    assert metrics["items"]["overall"] == 10 and metrics["chance"]["count"] == 50
    assert set(metrics["image_text_family"]) == {"swap", "count", "replace"}
    assert not result["timing"]["extraction"][0]["cached"]
    assert main(cached) == 0  # the second run reads the features from the cache
    again = json.loads(path.read_text())
    assert again["timing"]["extraction"][0]["cached"] and again["metrics"] == metrics
    assert main([*argv, "--images", str(tmp_path), "--output-dir", str(tmp_path)]) == 2


def _result(image_text: dict[str, float]) -> dict:
    from cyclip.evaluation.schema import make_result

    metrics = {
        "image_text": {**image_text, "overall": 60.0},
        "image_text_family": {"swap": 55.0, "count": 70.0},
        "text_only": {k: 50.0 for k in (*image_text, "overall")},
        "chance": {k: 50.0 for k in (*image_text, "overall")},
        "items": {**{k: 10.0 for k in image_text}, "overall": 30.0, "missing_image": 0.0},
    }
    dataset = {"source": "builtin:shapes/compositional", "name": "shapes/compositional", "n": 30}
    return make_result("compositional", {"name": "m"}, dataset, metrics, {"total_s": 0.0})


def test_report_table_and_demo_summary():
    from cyclip.cli.demo import summary_table
    from cyclip.report.compositional import compositional_tables
    from cyclip.report.runs import Run

    a = _result({"swap_att": 50.0, "swap_rel": 60.0, "count": 70.0})
    b = _result({"swap_att": 80.0, "swap_rel": 60.0, "count": 70.0})
    (table,) = compositional_tables([Run("a", "a", results=[a]), Run("b", "b", results=[b])])
    assert table.header[:5] == ("category", "items", "chance", "a image-text", "a text-only")
    rows = {row[0]: row for row in table.rows}
    assert rows["swap_att"] == ("swap_att", "10", "50.0", "50.0", "50.0", "80.0", "50.0", "+30.0")
    assert rows["swap (family)"][1] == "20"  # swap_att + swap_rel
    assert list(rows)[-1] == "overall"
    summary = summary_table({"c.json": b})
    assert "compositional, image-text/text-only (chance 50): swap_att 80.0/50.0" in summary
