import json

import pytest

from cyclip.evaluation.robustness import robustness_table
from cyclip.evaluation.schema import make_result, result_filename, write_result

TIMING = {"total_s": 1.0, "metrics_s": 0.1, "extraction": []}


def write_run(root, name, offset, lambdas=(0.25, 0.25), steps=40):
    """A run directory in the trainer's layout with evaluation results whose values are
    ``base + offset`` so the differences between runs are known."""
    run = root / name
    (run / "eval").mkdir(parents=True)
    (run / "config.yaml").write_text(
        f"model:\n  name: cyclip-tiny\nloss:\n  name: cyclip\n"
        f"  lambda_inmodal: {lambdas[0]}\n  lambda_crossmodal: {lambdas[1]}\n"
    )
    lines = []
    for step in range(1, steps + 1):
        lines.append(
            {
                "step": step,
                "epoch": 0,
                "lr": 1e-3 * min(1.0, step / 10),
                "logit_scale": 14.0 + step / 10,
                "loss": 4.0 - step / 20 + offset / 100,
                "contrastive_loss": 3.9 - step / 20,
                "inmodal_cyclic_loss": 0.05,
                "crossmodal_cyclic_loss": 0.05,
            }
        )
        if step % 20 == 0:
            lines.append(
                {"step": step, "eval": {"shapes/shape/test/zero_shot/top1": 20.0 + step + offset}}
            )
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"step": 41, "lo'  # torn last line
    (run / "metrics.jsonl").write_text(text)

    model = {"name": "cyclip-tiny", "checkpoint": str(run / "checkpoints" / "latest.pt")}
    test = {
        "source": "builtin:shapes/colour-shape/test",
        "name": "shapes/colour-shape/test",
        "n": 100,
    }
    zeroshot = make_result(
        "zeroshot",
        model,
        test,
        {
            "zero_shot": {
                "top1": 40.0 + offset,
                "top5": 80.0 + offset,
                "mean_per_class_recall": 39.0 + offset,
            },
            "consistency": {f"consistency@{k}": 30.0 + k + offset for k in (1, 3, 5, 10)},
            "fine_coarse": {
                "fine_top1": 60.0 + offset,
                "coarse_top1": 70.0 + offset,
                "flat_top1": 40.0 + offset,
            },
        },
        TIMING,
    )
    write_result(zeroshot, run / "eval", result_filename(test["name"], "zeroshot"))
    table = robustness_table(
        {"m": {"test": 40.0 + offset, "sketch": 20.0 + offset, "noisy": 30.0}}, "test"
    )
    robust = make_result(
        "robustness",
        model,
        {"source": "builtin:shapes", "name": "shapes", "n": 3},
        {
            "colour-shape": {
                "test/top1": 40.0 + offset,
                "sketch/top1": 20.0 + offset,
                "noisy/top1": 30.0,
            }
        },
        TIMING,
        {"tables": {"colour-shape": table}},
    )
    write_result(robust, run / "eval", "shapes__robustness.json")
    edges = [-1 + 0.1 * i for i in range(21)]
    geometry = make_result(
        "geometry",
        model,
        {"source": "builtin:shapes/val", "name": "shapes/val", "n": 50},
        {
            "geometry": {
                "modality_gap": 0.8 - offset / 100,
                "alignment": 1.2,
                "inmodal_cyclic": 0.01,
            }
        },
        TIMING,
        {
            "similarity_histogram": {
                "bin_edges": edges,
                "matched": [0.0] * 15 + [2.0] * 5,
                "unmatched": [0.5] * 20,
            }
        },
    )
    write_result(geometry, run / "eval", "shapes__val__geometry.json")
    (run / "eval" / "broken.json").write_text("{not json")
    return run


@pytest.fixture
def two_runs(tmp_path):
    return (
        write_run(tmp_path, "clip", 0.0, lambdas=(0.0, 0.0)),
        write_run(tmp_path, "cyclip", 5.0),
    )


@pytest.fixture
def run_factory():
    return write_run
