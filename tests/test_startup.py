"""Start-up: the cheap sub-commands must not pay for importing torch (5-25 s on a busy machine).

Each check runs the commands in a fresh interpreter and reads ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "torchvision", "open_clip", "sklearn")

_SCRIPT = """
import contextlib, io, json, sys
from cyclip.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        codes.append(main(argv))
    codes.append(len(out.getvalue()))
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def run_commands(*commands: list[str]) -> tuple[list[int], set[str]]:
    """(exit code and output length per command, modules loaded) from one fresh interpreter."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(commands)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    return result["codes"], set(result["modules"])


def test_help_and_listing_commands_do_not_import_torch():
    commands = [
        ["--help"],
        ["eval", "--help"],
        ["report", "--help"],
        ["data", "--help"],
        ["data", "list"],
    ]
    codes, modules = run_commands(*commands)
    assert codes[0::2] == [0] * len(commands)
    assert all(n > 100 for n in codes[1::2]), codes  # each printed its help or listing
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_eval_help_still_lists_every_registered_task():
    from cyclip.evaluation import TASKS

    done = subprocess.run(
        [sys.executable, "-m", "cyclip", "eval", "--help"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    listed = [t.name for t in TASKS.values() if t.cli]
    assert listed and all(f"  {name}: " in done.stdout for name in listed)


@pytest.mark.parametrize("name", ["linear_probe", "evaluate_model", "FeatureExtractor"])
def test_lazy_evaluation_names_resolve(name):
    import cyclip.evaluation as evaluation
    import cyclip.evaluation.linear_probe  # noqa: F401  (binds the submodule of the same name)

    assert callable(getattr(evaluation, name))
    assert getattr(evaluation, name).__name__ == name
