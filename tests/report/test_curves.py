"""The report draws every logged metric against the step: one panel per metric family."""

from __future__ import annotations

import json

from cyclip.report.plots import metric_families, periodic_eval_curves, training_curves
from cyclip.report.runs import load_run


def write_metrics(root, name: str, lines: list[dict]):
    run = root / name
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return load_run(run)


def train_line(step: int, **extra) -> dict:
    return {
        "step": step, "epoch": 0, "samples": 8 * step, "time": 1e9 + step, "loss": 3.0 - step / 10,
        "inmodal_residual": 0.2 / step, "crossmodal_residual": 0.1 / step, "epoch_skipped": 0,
        "siglip_bias": -10.0 + step, **extra,
    }  # fmt: skip


def eval_line(step: int, offset: float = 0.0) -> dict:
    top = "zeroshot/shapes/shape/test/zero_shot"
    return {
        "step": step,
        "eval": {
            f"{top}/top1": 10.0 + step + offset, f"{top}/top5": 50.0 + step,
            "retrieval/coco/retrieval/mean_recall": 5.0 + step, "val_contrastive_loss": 2.0,
            "val_inmodal_residual": 0.1, "val_crossmodal_residual": 0.2, "val_pairs": 16,
            "eval_seconds": 1.5,
        },
    }  # fmt: skip


def titles(figure) -> list[str]:
    return [ax.get_title() for ax in figure.axes]


def test_families_group_by_prefix_and_residuals():
    keys = ["a/b/top1", "a/b/top5", "a/c/x", "loss", "inmodal_residual", "crossmodal_residual"]
    assert metric_families(keys, {"loss": "total loss"}) == [
        ("a/b", ["a/b/top1", "a/b/top5"]),
        ("a/c", ["a/c/x"]),
        ("total loss", ["loss"]),
        ("cyclic residuals (unweighted, ÷N²)", ["inmodal_residual", "crossmodal_residual"]),
    ]


def test_every_training_quantity_and_every_eval_family_gets_a_panel_with_runs_overlaid(tmp_path):
    a = write_metrics(tmp_path, "a", [train_line(s) for s in (1, 2, 3)] + [eval_line(2)])
    b = write_metrics(tmp_path, "b", [train_line(s) for s in (1, 2)] + [eval_line(2, 5.0)])
    train = training_curves([a, b])
    # unknown keys (a new loss's term) are drawn too; an all-zero counter and clocks are not
    assert titles(train) == [
        "total loss", "cyclic residuals (unweighted, ÷N²)", "siglip_bias",
    ]  # fmt: skip
    residuals = train.axes[1]
    assert len([line for line in residuals.get_lines() if len(line.get_xdata())]) == 4  # 2 x 2
    curves = periodic_eval_curves([a, b])
    assert titles(curves) == [
        "zeroshot/shapes/shape/test/zero_shot", "retrieval/coco/retrieval",
        "val contrastive loss", "val cyclic residuals (unweighted, ÷N²)",
        "seconds per evaluation",
    ]  # fmt: skip
    zero_shot = curves.axes[0]
    drawn = [line for line in zero_shot.get_lines() if len(line.get_xdata())]
    assert sorted(float(line.get_ydata()[0]) for line in drawn) == [12.0, 17.0, 52.0, 52.0]
    legend = [t.get_text() for t in zero_shot.get_legend().get_texts()]
    assert legend == ["a", "b", "top1", "top5"]


def test_no_panels_without_logged_metrics(tmp_path):
    empty = write_metrics(tmp_path, "empty", [])
    assert training_curves([empty]) is None and periodic_eval_curves([empty]) is None
