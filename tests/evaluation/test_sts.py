"""STS: the metric against scipy, SentEval's aggregates, the cached text features, the task."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from cyclip.cli.eval import main
from cyclip.data.sts import STSSet
from cyclip.evaluation import (
    FeatureCache,
    FeatureExtractor,
    TaskRequest,
    evaluate_model,
    load_model,
)
from cyclip.evaluation.features import ExtractConfig
from cyclip.evaluation.pipeline import open_task
from cyclip.evaluation.run import Evaluator
from cyclip.evaluation.schema import validate_result
from cyclip.evaluation.sts import (
    correlations,
    cosine_scores,
    evaluate_sts,
    senteval_aggregates,
    sts_metrics,
)

FAST = ExtractConfig(batch_size=64, workers=0)


def test_metric_matches_scipy_on_random_data():
    rng = np.random.default_rng(0)
    a, b = torch.randn(200, 16), torch.randn(200, 16)
    gold = rng.uniform(0, 5, 200)
    predicted = cosine_scores(a, b)
    expected_cos = (a / a.norm(dim=1, keepdim=True) * (b / b.norm(dim=1, keepdim=True))).sum(1)
    assert torch.allclose(predicted.float(), expected_cos, atol=1e-6)
    # correlated predictions, so the check is not on values near zero only
    noisy = gold + rng.normal(0, 2, 200)
    got = correlations(noisy, gold)
    assert got["spearman"] == pytest.approx(100 * stats.spearmanr(noisy, gold).statistic)
    assert got["pearson"] == pytest.approx(100 * stats.pearsonr(noisy, gold).statistic)
    assert 30 < got["spearman"] < 95
    assert correlations(predicted, gold)["spearman"] == pytest.approx(
        100 * stats.spearmanr(predicted.numpy(), gold).statistic
    )


def test_undefined_correlations_are_nan():
    assert math.isnan(correlations([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])["spearman"])
    assert math.isnan(correlations([1.0], [2.0])["pearson"])
    with pytest.raises(ValueError, match="predictions for"):
        correlations([1.0, 2.0], [1.0])


def test_senteval_aggregates_against_a_hand_computed_case():
    # subset A agrees perfectly (+100), subset B is reversed (-100); sizes 3 and 4
    predicted = [1, 2, 3, 1, 2, 3, 4]
    gold = [1, 2, 3, 4, 3, 2, 1]
    subsets = ["A"] * 3 + ["B"] * 4
    agg = senteval_aggregates(predicted, gold, subsets)
    assert agg["mean/spearman"] == pytest.approx(0.0, abs=1e-9)
    assert agg["mean/pearson"] == pytest.approx(0.0, abs=1e-9)
    assert agg["wmean/spearman"] == pytest.approx((3 * 100 - 4 * 100) / 7)
    assert agg["wmean/pearson"] == pytest.approx(-100 / 7)
    # all: one correlation over the 7 pairs. Pearson: sum dx*dy = -126/49 over
    # sqrt(364/49 * 364/49); Spearman on tied ranks: -7.75 / 26.5.
    assert agg["all/pearson"] == pytest.approx(-100 * 126 / 364)
    assert agg["all/spearman"] == pytest.approx(-100 * 7.75 / 26.5)

    metrics, details = sts_metrics(predicted, gold, subsets, "subset")
    assert metrics["sts"] == {"spearman": agg["all/spearman"], "pearson": agg["all/pearson"]}
    assert metrics["sts_subset"]["A/spearman"] == pytest.approx(100.0)
    assert metrics["sts_subset"]["B/pearson"] == pytest.approx(-100.0)
    assert metrics["sts_aggregate"] == agg
    assert details["subset_sizes"] == {"A": 3, "B": 4}


def test_genres_get_their_own_group_without_aggregates():
    metrics, _ = sts_metrics([1, 2, 3, 3, 2, 1], [1, 2, 3, 1, 2, 3], ["x"] * 3 + ["y"] * 3)
    assert set(metrics) == {"sts", "sts_genre"}
    assert metrics["sts_genre"]["x/spearman"] == pytest.approx(100.0)
    assert metrics["sts_genre"]["y/spearman"] == pytest.approx(-100.0)


def _toy_set() -> STSSet:
    s1 = ["a red circle", "a blue star", "a red circle", "two green hearts"]
    s2 = ["a blue star", "a red circle", "two green hearts", "a small black cross"]
    return STSSet("toy", "toy", "csv", s1, s2, [1.0, 2.0, 3.0, 0.5], fingerprint="toy-v1")


class CountingEncoder:
    """Wraps ``encode_text`` to count the sentences that go through the text tower."""

    def __init__(self, model):
        self.inner = model.encode_text
        self.sentences = 0

    def __call__(self, tokens, normalize=False):
        self.sentences += tokens.shape[0]
        return self.inner(tokens, normalize=normalize)


def test_text_features_cost_one_pass_per_unique_sentence_then_nothing(
    tiny_bundle, tmp_path, monkeypatch
):
    counter = CountingEncoder(tiny_bundle.model)
    monkeypatch.setattr(tiny_bundle.model, "encode_text", counter)
    cache = FeatureCache(tmp_path / "cache")
    data = _toy_set()

    def run():
        from cyclip.evaluation.load import ModelInfo

        extractor = FeatureExtractor(tiny_bundle, "tiny-fixed-weights", cache, FAST)
        return evaluate_sts(Evaluator(extractor, ModelInfo(name="cyclip-tiny")), data)

    first = run()
    assert counter.sentences == 4  # 8 sentences, 4 distinct
    (record,) = first["timing"]["extraction"]
    assert record["kind"] == "texts" and record["n"] == 4 and not record["cached"]
    assert first["details"]["unique_sentences"] == 4
    second = run()
    assert counter.sentences == 4  # nothing encoded the second time
    assert second["timing"]["extraction"][0]["cached"]
    assert second["metrics"] == first["metrics"]
    validate_result(second)

    # features match a direct encoding of the pair sentences
    extractor = FeatureExtractor(tiny_bundle, None, FeatureCache(None), FAST)
    direct = extractor.encode_texts(data.sentences1 + data.sentences2)
    served = extractor.texts(data.sentences1 + data.sentences2)
    assert torch.allclose(direct, served, atol=1e-6)


def test_task_through_the_pipeline_with_a_checkpoint(tiny_run, tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("sentence1,sentence2,score\na,b,1\nc,d,2\ne,f,3\na,c,4\n")
    loaded = load_model(checkpoint=tiny_run / "checkpoints" / "latest.pt")
    cache = FeatureCache(tmp_path / "cache")
    plan = [open_task("sts", TaskRequest(data=str(path)))]
    first = evaluate_model(loaded, plan, cache=cache, extract=FAST, output_dir=tmp_path / "out")
    result = first.results["pairs__sts.json"]
    assert result["task"] == "sts" and result["dataset"]["n"] == 4
    assert set(result["metrics"]) == {"sts"}
    assert json.loads(first.paths[0].read_text())["metrics"] == result["metrics"]
    again = evaluate_model(loaded, plan, cache=cache, extract=FAST)
    assert all(e["cached"] for e in again.results["pairs__sts.json"]["timing"]["extraction"])
    with pytest.raises(ValueError, match="--train-data do\\(es\\) not apply to --task sts"):
        open_task("sts", TaskRequest(data=str(path), train_data="x"))


def test_builtin_sts_is_in_the_suite_and_the_demo_summary(tiny_bundle):
    from cyclip.cli.demo import summary_table
    from cyclip.evaluation import SuiteConfig, evaluate_suite

    config = SuiteConfig(
        factors=("shape",),
        shifts=(),
        consistency=False,
        linear_probe=False,
        retrieval=False,
        geometry=False,
        test_size=8,
        sts_size=30,
        image_size=32,
    )
    results = evaluate_suite(tiny_bundle, config=config, extract=FAST)
    sts = results["shapes__sts__sts.json"]
    assert sts["dataset"]["n"] == 30 and sts["dataset"]["source"] == "builtin:shapes/sts?size=30"
    line = next(x for x in summary_table(results).splitlines() if "shapes/sts" in x)
    assert f"Spearman {sts['metrics']['sts']['spearman']:.1f}" in line
    assert "shapes__sts__sts.json" not in evaluate_suite(
        tiny_bundle, config=SuiteConfig(**{**config.__dict__, "sts": False}), extract=FAST
    )


def test_cli_suite_sts_on_a_folder_and_bad_input(tmp_path, capsys):
    root = tmp_path / "sets"
    (root / "stsb").mkdir(parents=True)
    lines = [
        f"main-news\tf\t2015\t{i}\t{i % 5}.0\tSentence {i} here.\tAnother {i}." for i in range(6)
    ]
    (root / "stsb" / "sts-test.csv").write_text("\n".join(lines) + "\n")
    (root / "STS12").mkdir()
    (root / "STS12" / "STS.input.x.txt").write_text("a b\tc d\ne f\tg h\ni j\tk l\n")
    (root / "STS12" / "STS.gs.x.txt").write_text("1\n3\n2\n")
    out = tmp_path / "out"
    common = ["--model", "cyclip-tiny", "--workers", "0", "--device", "cpu", "--no-cache"]
    assert main([*common, "--suite", "sts", "--data", str(root), "--output-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2
    assert names[0].startswith("STS12__sts__") and names[1].startswith("stsb__test__sts__")
    senteval = json.loads((out / names[0]).read_text())
    assert set(senteval["metrics"]) == {"sts", "sts_subset", "sts_aggregate"}
    capsys.readouterr()

    assert main([*common, "--suite", "sts"]) == 2
    assert "--suite sts needs --data DIR" in capsys.readouterr().err
    (root / "empty").mkdir()
    (root / "empty" / "sts-test.csv").write_text("")
    assert main([*common, "--task", "sts", "--data", str(root / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is empty" in err[0]
    assert main([*common, "--task", "sts", "--data", str(root / "stsb"), "--option", "x=1"]) == 2
    assert "not an STS option" in capsys.readouterr().err


def test_cli_on_the_real_sts_benchmark(shared_data, tmp_path):
    stsb = shared_data / "sts" / "stsbenchmark"
    if not stsb.is_dir():
        pytest.skip(f"STS Benchmark not found at {stsb}")
    out = tmp_path / "out"
    argv = ["--model", "cyclip-tiny", "--task", "sts", "--data", str(stsb), "--workers", "0"]
    assert main([*argv, "--device", "cpu", "--no-cache", "--output-dir", str(out)]) == 0
    (path,) = out.glob("stsbenchmark__test__sts__*.json")
    result = json.loads(path.read_text())
    assert result["dataset"]["n"] == 1379 and result["dataset"]["skipped"] == 0
    assert {k.split("/")[0] for k in result["metrics"]["sts_genre"]} == {
        "news",
        "captions",
        "forums",
    }
    assert -100 <= result["metrics"]["sts"]["spearman"] <= 100
    (record,) = result["timing"]["extraction"]
    assert record["n"] == result["details"]["unique_sentences"] < 2 * 1379


def test_report_has_an_sts_table(tmp_path):
    from cyclip.evaluation.schema import make_result, write_result
    from cyclip.report.runs import load_run
    from cyclip.report.tables import sts_table

    runs = []
    for name, offset in (("a", 0.0), ("b", 10.0)):
        run = tmp_path / name
        metrics, _ = sts_metrics(
            [1, 2, 3, 1, 2, 3, 4], [1, 2, 3, 4, 3, 2, 1], ["A"] * 3 + ["B"] * 4, "subset"
        )
        metrics["sts"] = {k: v + offset for k, v in metrics["sts"].items()}
        result = make_result(
            "sts",
            {"name": "m"},
            {"source": "x", "name": "STS12", "n": 7},
            metrics,
            {"total_s": 0.0, "metrics_s": 0.0, "extraction": []},
        )
        write_result(result, run / "eval", "STS12__sts.json")
        runs.append(load_run(run))
    table = sts_table(runs)
    assert table.header == ("dataset", "part", "correlation", "a", "b", "Δ b − a")
    rows = {(r[1], r[2]): r[3:] for r in table.rows}
    assert rows[("all", "spearman")] == ("-29.25", "-19.25", "+10.00")
    assert rows[("A", "pearson")][0] == "100.00" and rows[("wmean", "spearman")][0] == "-14.29"
    assert ("all", "spearman") == (table.rows[0][1], table.rows[0][2])  # headline first
    assert sts_table([]) is None
