"""Start-up time of ``cyclip`` sub-commands: wall time of a fresh process and whether it loaded torch.

    .venv/bin/python benchmarks/startup.py                         # this checkout
    .venv/bin/python benchmarks/startup.py --src old/src new/src   # two trees side by side

Each command runs in a fresh interpreter (``python -m cyclip ...``), trees and commands
interleaved, ``--reps`` times; the median is reported. ``report`` runs on a small fake run
directory written by the test helpers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Sub-command arguments; "{run}" is replaced by a fake run directory.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("eval", "--help"),
    ("report", "--help"),
    ("data", "--help"),
    ("data", "list"),
    ("train", "--help"),
    ("demo", "--help"),
    ("report", "{run}", "--out", "{run}/report.html"),
)

# Runs the command in-process, then prints which heavy libraries it loaded.
_PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['cyclip', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('cyclip', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = [m for m in ('torch', 'torchvision', 'open_clip', 'matplotlib', 'sklearn')"
    " if m in sys.modules]\n"
    "print('LOADED=' + ','.join(heavy), file=sys.stderr)\n"
)


def fake_run(root: Path) -> Path:
    """A run directory with a config, a metrics log and a few result files."""
    sys.path.insert(0, str(ROOT))
    from tests.report.conftest import write_run

    return write_run(root, "fake", 0.0)


def time_command(src: Path, args: tuple[str, ...]) -> tuple[float, str]:
    """(seconds, comma-separated heavy modules loaded) for one fresh process."""
    import time

    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    if not loaded:
        raise RuntimeError(f"cyclip {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, loaded[-1].removeprefix("LOADED=")


def measure(srcs: list[Path], reps: int, commands=COMMANDS) -> list[dict]:
    """One row per (command, tree): median seconds over ``reps`` and the heavy modules loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        run = fake_run(Path(tmp))
        plan = [tuple(a.replace("{run}", str(run)) for a in c) for c in commands]
        times: dict[tuple[int, int], list[float]] = {}
        loaded: dict[tuple[int, int], str] = {}
        for _ in range(reps):
            for ci, args in enumerate(plan):
                for si, src in enumerate(srcs):
                    seconds, heavy = time_command(src, args)
                    times.setdefault((ci, si), []).append(seconds)
                    loaded[ci, si] = heavy
    return [
        {
            "command": "cyclip " + " ".join(commands[ci]).replace("{run}", "RUN_DIR"),
            "src": str(srcs[si]),
            "seconds": statistics.median(values),
            "loaded": loaded[ci, si] or "-",
        }
        for (ci, si), values in sorted(times.items())
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", nargs="+", type=Path, default=[ROOT / "src"])
    p.add_argument("--reps", type=int, default=1)
    args = p.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min)")
    for row in measure(args.src, args.reps):
        print(f"{row['command']:<42} {row['seconds']:6.2f} s  {row['loaded']:<40} {row['src']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
