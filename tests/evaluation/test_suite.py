import math

import pytest

from cyclip.evaluation import SuiteConfig, evaluate_suite, headline_metrics, make_eval_fn
from cyclip.evaluation.features import ExtractConfig
from cyclip.evaluation.linear_probe import LinearProbeConfig
from cyclip.evaluation.schema import validate_result

SMALL = SuiteConfig(
    test_size=24,
    train_size=40,
    retrieval_size=10,
    geometry_size=12,
    compositional_size=10,
    sts_size=40,
    image_size=32,
    probe=LinearProbeConfig(c_grid=(0.1, 10.0), max_iter=50),
)
FAST = ExtractConfig(batch_size=64, workers=0, precision="fp32")


@pytest.fixture(scope="module")
def suite_results(tiny_bundle):
    return evaluate_suite(tiny_bundle, config=SMALL, extract=FAST)


def test_suite_covers_every_protocol(suite_results):
    names = set(suite_results)
    for factor in ("shape", "colour", "colour-shape"):
        for split in ("test", "sketch", "noisy", "novel"):
            assert f"shapes__{factor}__{split}__zeroshot.json" in names
    assert {
        "shapes__retrieval__retrieval.json",
        "shapes__val__geometry.json",
        "shapes__robustness.json",
        "shapes__compositional__compositional.json",
        "shapes__sts__sts.json",
    } <= names
    for result in suite_results.values():
        validate_result(result)
    test = suite_results["shapes__colour-shape__test__zeroshot.json"]
    assert set(test["metrics"]) == {"zero_shot", "consistency", "linear_probe", "fine_coarse"}
    assert test["dataset"]["n"] == 24 and test["dataset"]["train_n"] == 40
    # held-out colour-shape pairs never occur in train: no probe, and a note saying why
    novel = suite_results["shapes__colour-shape__novel__zeroshot.json"]
    assert "linear_probe" not in novel["metrics"] and "linear_probe_skipped" in novel["details"]


def test_factors_share_images_but_not_labels(suite_results):
    shape = suite_results["shapes__shape__test__zeroshot.json"]
    colour = suite_results["shapes__colour__test__zeroshot.json"]
    assert shape["details"]["classnames"] != colour["details"]["classnames"]
    # one extraction of the split's images for all three factors
    kinds = [e["kind"] for e in shape["timing"]["extraction"]]
    assert kinds.count("images") == 2  # train split + test split
    assert [e["kind"] for e in colour["timing"]["extraction"]] == ["class prompts"]


def test_robustness_is_consistent_with_zero_shot(suite_results):
    robust = suite_results["shapes__robustness.json"]["metrics"]["shape"]
    test = suite_results["shapes__shape__test__zeroshot.json"]["metrics"]["zero_shot"]["top1"]
    sketch = suite_results["shapes__shape__sketch__zeroshot.json"]["metrics"]["zero_shot"]["top1"]
    assert robust["test/top1"] == test and robust["sketch/top1"] == sketch
    if test > 0:
        assert math.isclose(robust["sketch/relative_robustness"], sketch / test)


def test_eval_fn_for_the_trainer(tiny_bundle):
    fn = make_eval_fn(
        tiny_bundle,
        config=SuiteConfig(
            factors=("shape",),
            shifts=(),
            linear_probe=False,
            geometry=False,
            compositional=False,
            test_size=16,
            train_size=20,
            retrieval_size=8,
            sts_size=20,
            image_size=32,
        ),
    )
    model = tiny_bundle.model.train()
    metrics = fn(model, 5)
    assert model.training  # mode restored
    assert "shapes/shape/test/zero_shot/top1" in metrics
    assert "shapes/retrieval/retrieval/mean_recall" in metrics
    assert "shapes/sts/sts/spearman" in metrics
    assert all(isinstance(v, float) for v in metrics.values())
    model.eval()


def test_compositional_part_scores_the_builtin_benchmark(suite_results):
    result = suite_results["shapes__compositional__compositional.json"]
    assert result["dataset"]["n"] == 10 and result["metrics"]["items"]["overall"] == 10
    for group in ("image_text", "text_only"):
        assert set(result["metrics"][group]) == {
            "swap_att",
            "swap_rel",
            "count",
            "replace_att",
            "replace_obj",
            "overall",
            "mean_category",
        }
    assert headline_metrics(suite_results)["shapes/compositional/chance/overall"] == 50.0


def test_headline_metrics_flattens():
    result = {"dataset": {"name": "d"}, "metrics": {"g": {"m": 1.0}}}
    assert headline_metrics({"x": result}) == {"d/g/m": 1.0}


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="unknown label factors"):
        SuiteConfig(factors=("texture",))
