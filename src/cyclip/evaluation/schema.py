"""The result file: one JSON document per evaluation run, with a stable, versioned schema.

See :data:`SCHEMA` for the layout. Readers (``cyclip report``) check ``schema_version`` and
refuse files from a newer major version rather than misreading them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import cyclip
from cyclip.evaluation.registry import TASKS
from cyclip.types import BUILTIN_PREFIX

SCHEMA_VERSION = 1

SCHEMA = """\
{
  "schema_version": 1,                  # int; bumped on any incompatible change
  "cyclip_version": "0.1.0",            # package that wrote the file
  "created": "2025-01-01T12:00:00+00:00",  # ISO-8601, UTC
  "task": "zeroshot",                   # a registered task (cyclip.evaluation.TASKS)
  "model": {
    "name": "cyclip-small",             # open_clip architecture
    "pretrained": null,                 # open_clip tag or weights file, if any
    "checkpoint": "/runs/a/checkpoints/latest.pt",  # checkpoint file, if any
    "fingerprint": "9f2c...",           # identity of the weights (null: random init)
    "step": 1200                        # training step of a cyclip checkpoint, if known
  },
  "dataset": {
    "source": "builtin:shapes/shape/test",   # what was passed on the command line
    "name": "shapes/shape/test",        # short display name
    "fingerprint": "41ab...",           # identity of the data (null: not computed)
    "n": 1000,                          # items evaluated
    "skipped": 0,                       # unreadable items dropped
    "train_source": "builtin:shapes/shape/train",  # labelled train split, if used
    "train_n": 4000,
    "prompts": "5d1e..."                # zero-shot: identity of the class names + templates
  },
  "metrics": {                          # group -> metric -> float or null (undefined, e.g. 0/0)
    "zero_shot":   {"top1": 71.2, "top3": 90.1, "top5": 97.0, "mean_per_class_recall": 70.8},
    "linear_probe": {"top1": 88.0, "c": 10.0, "val_top1": 87.5},
    "consistency": {"consistency@1": 60.0, "knn_accuracy@1": 80.0, ...},
    "fine_coarse": {"fine_top1": ..., "coarse_top1": ..., "flat_top1": ...},
    "retrieval":   {"image_to_text_R@1": ..., "text_to_image_R@1": ..., "mean_recall": ...},
    "geometry":    {"modality_gap": ..., "alignment": ..., "uniformity_image": ..., ...},
    "sts":         {"spearman": ..., "pearson": ...},  # + sts_genre / sts_subset / sts_aggregate
  },                                    # task "compositional" has "image_text" and
                                        #   "text_only" ({"<category>": %, "overall": %,
                                        #   "mean_category": %}), "*_family" (per family),
                                        #   "chance" (%), "items" (counts per category,
                                        #   "missing_image", "unreadable_image"), for 2x2
                                        #   groups "groups" ({"text", "image", "group"} %);
                                        #   its dataset block adds "total", "missing_images"
                                        # task "robustness" instead has one group per
                                        # label set: {"shape": {"test/top1": ...,
                                        #   "<shift>/top1": ..., "<shift>/relative_robustness":
                                        #   ..., "<shift>/effective_robustness": ... (if fitted)}}
  "details": {...},                     # free-form plain data: per-class recall, similarity
                                        # histograms, the full robustness table, class names
  "timing": {
    "total_s": 12.3,                    # wall time of the whole evaluation run
    "metrics_s": 0.4,                   # time in metric computations
    "extraction": [{"kind": "images", "n": 1000, "seconds": 8.1, "cached": false,
                    "items_per_s": 123.4}, ...]
  }
}
Units: accuracies, recalls and consistency are percentages in [0, 100]; relative robustness is a
ratio; effective robustness and drops are percentage points; geometry values are raw (see
cyclip.evaluation.geometry). A file is named "<dataset name>__<task>.json" with "/" and other
unsafe characters of the dataset name replaced by "__" / "-" (e.g.
"shapes__shape__test__zeroshot.json").
"""

_REQUIRED = (
    "schema_version",
    "cyclip_version",
    "created",
    "task",
    "model",
    "dataset",
    "metrics",
    "timing",
)


def make_result(
    task: str,
    model: Mapping,
    dataset: Mapping,
    metrics: Mapping[str, Mapping[str, float]],
    timing: Mapping,
    details: Mapping | None = None,
) -> dict:
    """Assemble and validate a result document (see :data:`SCHEMA`)."""
    result = {
        "schema_version": SCHEMA_VERSION,
        "cyclip_version": cyclip.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "model": dict(model),
        "dataset": dict(dataset),
        "metrics": {
            group: {k: float(v) for k, v in values.items()} for group, values in metrics.items()
        },
        "details": dict(details or {}),
        "timing": dict(timing),
    }
    validate_result(result)
    return result


def validate_result(result: Mapping) -> None:
    """Raise ``ValueError`` naming every way ``result`` departs from :data:`SCHEMA`."""
    problems = [f"missing key '{k}'" for k in _REQUIRED if k not in result]
    if not problems:
        version = result["schema_version"]
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            problems.append(
                f"schema_version {version!r} is newer than this cyclip understands "
                f"({SCHEMA_VERSION}); upgrade cyclip"
            )
        if result["task"] not in TASKS:
            problems.append(f"task {result['task']!r} is not one of {tuple(TASKS)}")
        for key in ("name",):
            if key not in result["model"]:
                problems.append(f"model has no '{key}'")
        for key in ("source", "n"):
            if key not in result["dataset"]:
                problems.append(f"dataset has no '{key}'")
        metrics = result["metrics"]
        if not isinstance(metrics, Mapping):
            problems.append("metrics must be an object of metric groups")
        else:
            for group, values in metrics.items():
                if not isinstance(values, Mapping):
                    problems.append(f"metrics group '{group}' must map names to numbers")
                    continue
                for name, v in values.items():
                    # null stands for an undefined value (NaN/inf are written as null).
                    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                        problems.append(
                            f"metric {group}/{name} is {type(v).__name__}, not a number"
                        )
    if problems:
        raise ValueError("invalid evaluation result: " + "; ".join(problems))


def result_filename(dataset_name: str, task: str) -> str:
    """``shapes/shape/test`` + ``zeroshot`` -> ``shapes__shape__test__zeroshot.json``."""
    slug = dataset_name.strip().replace(BUILTIN_PREFIX, "").strip("/")
    slug = slug.replace("/", "__").replace(os.sep, "__")
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", slug).strip("-.") or "dataset"
    return f"{slug}__{task}.json"


def evaluation_id(result: Mapping) -> str:
    """8 hex digits naming *which* evaluation a result is: its task, model (weights fingerprint,
    checkpoint, or name and pretrained tag) and data (source, fingerprint, train split, and for
    zero-shot the class names and templates).

    Re-running the same evaluation gives the same id; another checkpoint of the same run, or
    another folder that happens to have the same name, gives another.
    """
    model, dataset = result["model"], result["dataset"]
    identity = {
        "task": result["task"],
        "model": [model.get(k) for k in ("name", "pretrained", "checkpoint", "fingerprint")],
        "data": [dataset.get(k) for k in ("source", "fingerprint", "train_source", "prompts")],
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def unique_filename(key: str, result: Mapping) -> str:
    """``shapes__val__geometry.json`` -> ``shapes__val__geometry__1a2b3c4d.json`` (see
    :func:`evaluation_id`): results of different evaluations never share a file."""
    stem = key[: -len(".json")] if key.endswith(".json") else key
    return f"{stem}__{evaluation_id(result)}.json"


def _json_default(value: object) -> object:
    raise TypeError(f"cannot write {type(value).__name__} to a result file")


def _finite(obj: object) -> object:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_result(result: Mapping, output_dir: str | os.PathLike, filename: str) -> Path:
    """Write ``result`` to ``output_dir/filename`` atomically; returns the path.

    Replaces an existing file only when it holds the same evaluation (same
    :func:`evaluation_id`: a re-run); a different evaluation's result is never overwritten.
    """
    validate_result(result)
    out = Path(output_dir)
    target = out / filename
    if target.is_file():
        try:
            existing = evaluation_id(read_result(target))
        except (ValueError, OSError, KeyError):
            existing = None  # unreadable: a torn or foreign file, replaced by a valid one
        if existing is not None and existing != evaluation_id(result):
            raise FileExistsError(
                f"{target} holds the result of another evaluation ({existing}); "
                "write to another --output-dir or remove the file"
            )
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(result), indent=2, default=_json_default, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, out / filename)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out / filename


def read_result(path: str | os.PathLike) -> dict:
    """Load and validate one result file."""
    with open(path) as f:
        try:
            result = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    try:
        validate_result(result)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return result
