import json

import pytest

from cyclip.evaluation.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    make_result,
    read_result,
    result_filename,
    validate_result,
    write_result,
)


def _result(**metrics):
    return make_result(
        "zeroshot",
        {"name": "cyclip-tiny", "fingerprint": None},
        {"source": "builtin:shapes/shape/test", "name": "shapes/shape/test", "n": 10},
        metrics or {"zero_shot": {"top1": 50.0}},
        {"total_s": 1.0, "metrics_s": 0.1, "extraction": []},
        {"classnames": ["a", "b"]},
    )


def test_round_trip(tmp_path):
    result = _result()
    path = write_result(result, tmp_path, "x.json")
    assert read_result(path) == json.loads(json.dumps(result))
    assert result["schema_version"] == SCHEMA_VERSION
    for key in (
        "schema_version",
        "cyclip_version",
        "created",
        "model",
        "dataset",
        "task",
        "metrics",
        "timing",
    ):
        assert key in result and f'"{key}"' in SCHEMA


def test_non_finite_values_become_null(tmp_path):
    path = write_result(_result(zero_shot={"top1": float("nan")}), tmp_path, "nan.json")
    assert json.loads(path.read_text())["metrics"]["zero_shot"]["top1"] is None
    # ... and what write_result wrote, read_result reads back.
    assert read_result(path)["metrics"]["zero_shot"]["top1"] is None


def test_validation_names_the_problems(tmp_path):
    bad = _result()
    bad["metrics"] = {"zero_shot": {"top1": "high"}}
    del bad["timing"]
    with pytest.raises(ValueError, match="missing key 'timing'"):
        validate_result(bad)
    bad["timing"] = {}
    with pytest.raises(ValueError, match="zero_shot/top1 is str"):
        validate_result(bad)
    newer = _result()
    newer["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "n.json").write_text(json.dumps(newer))
    with pytest.raises(ValueError, match="upgrade cyclip"):
        read_result(tmp_path / "n.json")


def test_filenames():
    assert result_filename("shapes/shape/test", "zeroshot") == "shapes__shape__test__zeroshot.json"
    assert result_filename("cifar10 test mini", "zeroshot") == "cifar10-test-mini__zeroshot.json"
    assert result_filename("builtin:shapes/val", "geometry") == "shapes__val__geometry.json"
