"""``python tests/reliability/soak.py [--keep DIR]``: re-run issue 21's hostile list against the
real ``cyclip`` command and count what ended well.

Every case is a real process (``python -m cyclip ...``) with a wall-clock timeout and a 16 GiB
address-space limit. A case passes when the process ends in time (no hang), its stderr holds no
``Traceback``, its exit code is the expected one, and its own check of the run directory holds
(no lost or mixed-up run). Prints one line per case and ``soak: N/M passed``; exits 1 if any
failed. About 15 minutes on two busy cores (tiny model, two steps). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability.conftest import (  # noqa: E402
    train_args,
    write_pairs,
    write_truncated_shard,
)
from tests.reliability.test_hostile_input import alias_bomb  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
RUNNER = HERE / "faulty_cyclip.py"
MEMORY_LIMIT = 16 << 30
TEST = "builtin:shapes/shape/test?size=8&image_size=32"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cyclip(*args: str, faults: bool = False) -> list[str]:
    head = [sys.executable, str(RUNNER)] if faults else [sys.executable, "-m", "cyclip"]
    return [*head, *args]


def start(cmd: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        env={**ENV, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_memory,
    )


@dataclass
class Outcome:
    code: int | None  # None: it hung and was killed
    out: str
    err: str


def finish(proc: subprocess.Popen, timeout: float) -> Outcome:
    try:
        out, err = proc.communicate(timeout=timeout)
        return Outcome(proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Outcome(None, out, err)


def run(cmd: list[str], timeout: float = 240, **env: str) -> Outcome:
    return finish(start(cmd, **env), timeout)


def tiny(out: Path, name: str, *extra: str, data: str = "builtin:shapes/pretrain") -> list[str]:
    return cyclip(*train_args(out, name, "--optim.max-steps", "2", *extra, data=data))


def steps_of(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x)["step"] for x in lines if "loss" in json.loads(x)]


def fifo_csv(root: Path) -> Path:
    rows = write_pairs(root / "img", 16)
    os.mkfifo(root / "img" / "pipe.png")
    (root / "pairs.csv").write_text("filepath,caption\n" + "\n".join([*rows, "img/pipe.png,x"]))
    return root / "pairs.csv"


def coco(root: Path, names: list[str], captions: list, extra_images: list | None = None) -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "file_name": n} for i, n in enumerate(names)] + (extra_images or [])
    anns = [{"id": i, "image_id": i % len(names), "caption": c} for i, c in enumerate(captions)]
    path = root / "annotations" / "captions_train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


# ------------------------------------------------------------------------------ the cases
# Each takes a fresh folder and returns (outcome, expected exit codes, extra problem or None).

Case = Callable[[Path], tuple[Outcome, set[int], str | None]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    CASES[fn.__name__.removeprefix("case_").replace("_", "-")] = fn
    return fn


@case
def case_fifo_among_images_0_workers(d):
    args = ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5"]
    return run(tiny(d, "r", *args, data=str(fifo_csv(d)))), {0}, None


@case
def case_fifo_among_images_1_worker(d):
    args = ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5", "--data.workers", "1"]
    return run(tiny(d, "r", *args, data=str(fifo_csv(d)))), {0}, None


@case
def case_fifo_as_train_data(d):
    os.mkfifo(d / "pairs.csv")
    return run(tiny(d, "r", data=str(d / "pairs.csv"))), {2}, None


@case
def case_eval_on_image_folder_with_a_fifo(d):
    for cls in ("a", "b"):
        write_pairs(d / "data" / cls, 3)
    os.mkfifo(d / "data" / "a" / "pipe.png")
    argv = ["eval", "--model", "cyclip-tiny", "--task", "zeroshot", "--data", str(d / "data")]
    return run(cyclip(*argv, "--no-cache", "--output-dir", str(d / "o"))), {0}, None


@case
def case_every_sample_bad_max_skip_rate_1(d):
    rows = "\n".join(f"missing/{i}.png,caption {i}" for i in range(16))
    (d / "pairs.csv").write_text("filepath,caption\n" + rows)
    args = ["--data.train-num-samples", "16", "--data.max-skip-rate", "1.0"]
    return run(tiny(d, "r", *args, data=str(d / "pairs.csv"))), {1}, None


@case
def case_coco_first_names_stray(d):
    write_pairs(d / "train", 16)
    stray = [f"stray{i}.png" for i in range(5)]
    for name in stray:
        shutil.copy(d / "train" / "0000.png", d / name)
    names = stray + [f"{i:04d}.png" for i in range(16)]
    ann = coco(d, names, [f"caption {i}" for i in range(len(names))])
    args = ["--data.train-num-samples", "21", "--data.max-skip-rate", "0.5"]
    return run(tiny(d, "r", *args, data=str(ann))), {0}, None


@case
def case_yaml_alias_bomb(d):
    (d / "bomb.yaml").write_text(alias_bomb(9))
    out = run(cyclip("train", "--config", str(d / "bomb.yaml")), timeout=60)
    long = len(out.err) > 2000
    return out, {2}, "error message longer than 2000 characters" if long else None


@case
def case_force_image_size_6000(d):
    return run(tiny(d, "r", "--model.force-image-size", "6000"), timeout=120), {2}, None


@case
def case_force_image_size_100000(d):
    return run(tiny(d, "r", "--model.force-image-size", "100000"), timeout=120), {2}, None


@case
def case_two_unnamed_runs_in_one_second(d):
    args = [a for a in tiny(d, "x") if a not in ("--run.name", "x")]
    procs = [start(args), start(args)]
    outs = [finish(p, 300) for p in procs]
    runs = sorted(p for p in d.iterdir() if p.is_dir())
    problem = None
    if len(runs) != 2 or any(steps_of(r) != [1, 2] for r in runs if (r / "metrics.jsonl").exists()):
        problem = f"run directories {[r.name for r in runs]} do not each hold one whole run"
    worst = next((o for o in outs if o.code != 0), outs[0])
    return worst, {0}, problem


@case
def case_two_resumes_of_one_run_at_once(d):
    args = train_args(d, "r", "--optim.max-steps", "400", "--run.resume", "latest")
    first = start(cyclip(*args, faults=True), FAULT_SLOW_SAVE="2")
    deadline = time.monotonic() + 240
    while not (d / "r" / "metrics.jsonl").exists() and time.monotonic() < deadline:
        if first.poll() is not None:
            break
        time.sleep(0.2)
    second = run(cyclip(*args))
    first.terminate()
    first_out = finish(first, 120)
    problem = None
    steps = steps_of(d / "r") if (d / "r" / "metrics.jsonl").exists() else []
    if first_out.code != 128 + 15 or steps != list(range(1, len(steps) + 1)) or not steps:
        problem = f"first run: exit {first_out.code}, steps {steps[:5]}..."
    return second, {2}, problem


@case
def case_resume_with_a_changed_objective(d):
    first = run(tiny(d, "r"))
    if first.code != 0:
        return first, {0}, None
    resume = tiny(d, "r", "--run.resume", "latest", "--optim.max-steps", "3")
    out = run([*resume, "--loss.name", "clip"])
    history = list((d / "r" / "config-history").glob("*.yaml"))
    return out, {2}, None if len(history) == 1 else f"config history {history}"


@case
def case_resume_with_a_changed_lr(d):
    first = run(tiny(d, "r"))
    if first.code != 0:
        return first, {0}, None
    out = run(
        [*tiny(d, "r", "--run.resume", "latest", "--optim.max-steps", "3"), "--optim.lr", "2e-3"]
    )
    history = sorted((d / "r" / "config-history").glob("*.yaml"))
    return out, {0}, None if len(history) == 2 else f"config history {history}"


@case
def case_truncated_newest_checkpoint(d):
    first = run(tiny(d, "r", "--optim.max-steps", "8"))
    if first.code != 0:
        return first, {0}, None
    newest = d / "r" / "checkpoints" / "step_00000008.pt"
    with open(newest, "r+b") as f:
        f.truncate(newest.stat().st_size // 2)
    out = run(tiny(d, "r", "--run.resume", "latest", "--optim.max-steps", "10"))
    return out, {0}, None if "at step 4" in out.out else "did not resume from step 4"


@case
def case_run_dir_is_a_regular_file(d):
    (d / "r").write_text("x")
    return run(tiny(d, "r")), {2}, None


@case
def case_checkpoints_is_a_regular_file(d):
    (d / "r").mkdir()
    (d / "r" / "checkpoints").write_text("x")
    return run(tiny(d, "r")), {2}, None


@case
def case_output_dir_dev_null(d):
    return run(tiny(Path("/dev/null"), "r")), {2}, None


def _checkpoint(d: Path) -> Path | None:
    first = run(tiny(d, "r"))
    return d / "r" / "checkpoints" / "latest.pt" if first.code == 0 else None


@case
def case_cache_dir_under_a_regular_file(d):
    ckpt = _checkpoint(d)
    (d / "blocker").write_text("x")
    argv = ["eval", "--checkpoint", str(ckpt), "--task", "zeroshot", "--data", TEST]
    out = run(cyclip(*argv, "--output-dir", str(d / "o")), CYCLIP_CACHE=str(d / "blocker" / "c"))
    written = list((d / "o").glob("*.json"))
    return out, {0}, None if len(written) == 1 else "no result file written"


def _weights(d: Path, name: str, drop_key: bool = False) -> Path:
    code = (
        "import sys, torch; from cyclip.models import create_model; "
        f"sd = dict(create_model({name!r}).model.state_dict()); "
        + ("sd.pop(next(iter(sd))); " if drop_key else "")
        + "torch.save(sd, sys.argv[1])"
    )
    path = d / f"{name}-{drop_key}.pt"
    subprocess.run([sys.executable, "-c", code, str(path)], env=ENV, cwd=REPO, timeout=240)
    return path


@case
def case_pretrained_of_another_architecture(d):
    argv = ["eval", "--model", "cyclip-tiny", "--pretrained", str(_weights(d, "cyclip-small"))]
    return run(cyclip(*argv, "--task", "zeroshot", "--data", TEST, "--no-cache")), {2}, None


@case
def case_train_pretrained_of_another_architecture(d):
    weights = _weights(d, "cyclip-small")
    return run(tiny(d, "r", "--model.pretrained", str(weights))), {2}, None


@case
def case_state_dict_with_a_missing_key(d):
    weights = _weights(d, "cyclip-tiny", drop_key=True)
    argv = ["eval", "--model", "cyclip-tiny", "--pretrained", str(weights)]
    out = run(cyclip(*argv, "--task", "zeroshot", "--data", TEST, "--no-cache"))
    named = "missing keys positional_embedding" in out.err  # the key _weights dropped
    return out, {2}, None if named else "the missing key is not named"


@case
def case_checkpoint_given_as_a_directory(d):
    ckpt = _checkpoint(d)
    argv = ["eval", "--checkpoint", str(ckpt.parent.parent), "--task", "zeroshot"]
    return run(cyclip(*argv, "--data", TEST, "--no-cache", "--output-dir", str(d / "o"))), {0}, None


@case
def case_templates_with_other_placeholders(d):
    (d / "t.txt").write_text("a {d} of a {c}\na {0} {c}\n")
    argv = ["eval", "--model", "cyclip-tiny", "--task", "zeroshot", "--data", TEST]
    return run(cyclip(*argv, "--templates", str(d / "t.txt"), "--no-cache")), {2}, None


@case
def case_coco_image_without_file_name(d):
    write_pairs(d / "train", 4)
    ann = coco(d, [f"{i:04d}.png" for i in range(4)], ["a", "b", "c", "d"], [{"id": 9}])
    return run(tiny(d, "r", data=str(ann))), {2}, None


@case
def case_coco_truncated_json(d):
    write_pairs(d / "train", 4)
    ann = coco(d, [f"{i:04d}.png" for i in range(4)], ["a", "b", "c", "d"])
    ann.write_text(ann.read_text()[:-30])
    out = run(tiny(d, "r", data=str(ann)))
    return out, {2}, None if "captions_train.json" in out.err else "the file is not named"


@case
def case_seed_2_pow_70(d):
    return run(tiny(d, "r", "--run.seed", str(2**70))), {2}, None


@case
def case_coco_number_and_null_captions(d):
    write_pairs(d / "train", 8)
    captions = [12345, None] + [f"caption {i}" for i in range(14)]
    ann = coco(d, [f"{i:04d}.png" for i in range(8)], captions)
    args = ["--data.train-num-samples", "16", "--data.max-skip-rate", "0.5"]
    out = run(tiny(d, "r", *args, data=str(ann)))
    return out, {0}, None


@case
def case_duplicate_csv_header_columns(d):
    rows = write_pairs(d / "img", 16)
    text = "filepath,caption,caption\n" + "\n".join(f"{r},x" for r in rows)
    (d / "pairs.csv").write_text(text)
    return run(tiny(d, "r", data=str(d / "pairs.csv"))), {2}, None


@case
def case_duplicate_yaml_keys(d):
    (d / "c.yaml").write_text("optim:\n  lr: 1.0e-3\n  lr: 5.0e-4\n")
    return run(cyclip("train", "--config", str(d / "c.yaml")), timeout=60), {2}, None


@case
def case_report_on_a_folder_that_is_not_a_run(d):
    (d / "x").mkdir()
    out = run(cyclip("report", str(d / "x"), "--out", str(d / "r.html")), timeout=120)
    return out, {2}, None if not (d / "r.html").exists() else "a report was written"


@case
def case_single_class_image_folder(d):
    write_pairs(d / "data" / "only", 4)
    argv = ["eval", "--model", "cyclip-tiny", "--task", "zeroshot", "--data", str(d / "data")]
    out = run(cyclip(*argv, "--no-cache", "--output-dir", str(d / "o")))
    return out, {0}, None if "one class" in out.err else "no warning"


@case
def case_truncated_tar_member(d):
    write_truncated_shard(d, 20, cut_member=-4)
    args = ["--data.train-num-samples", "18", "--data.max-skip-rate", "0.5"]
    return run(tiny(d, "r", *args, data=str(d / "t.tar"))), {0}, None


@case
def case_sigterm_during_a_stuck_read(d):
    rows = write_pairs(d / "img", 96)
    (d / "pairs.csv").write_text("filepath,caption\n" + "\n".join(rows))
    args = train_args(d, "r", data=str(d / "pairs.csv"))
    proc = start(cyclip(*args, faults=True), FAULT_SLOW_IMAGE="30:600")
    metrics = d / "r" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    time.sleep(8)
    proc.terminate()
    out = finish(proc, 60)
    saved = (d / "r" / "checkpoints" / "latest.pt").exists()
    return out, {128 + 15}, None if saved else "no checkpoint after the stop"


@case
def case_a_read_that_does_not_return_1_worker(d):
    rows = write_pairs(d / "img", 32)
    (d / "pairs.csv").write_text("filepath,caption\n" + "\n".join(rows))
    args = train_args(d, "r", "--data.workers", "1", "--data.read-timeout", "2",
                      data=str(d / "pairs.csv"))  # fmt: skip
    out = run(cyclip(*args, faults=True), 120, FAULT_SLOW_IMAGE="5:600")
    named = [x for x in out.err.splitlines() if "did not finish within 2 s" in x and ".png" in x]
    return out, {1}, None if len(named) == 1 else "no one line naming the stuck image"


def _one_clear_error(err: str) -> bool:
    """Exactly one ``error:`` line, and not a usage error of the harness itself."""
    lines = [x for x in err.splitlines() if "error:" in x]
    return len(lines) == 1 and "unknown command" not in err and "unrecognized" not in err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="keep the cases' folders here")
    parser.add_argument("-k", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="cyclip-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    passed = total = hangs = tracebacks = 0
    try:
        for name, fn in CASES.items():
            if args.k not in name:
                continue
            total += 1
            folder = root / name
            folder.mkdir()
            start_time = time.monotonic()
            try:
                outcome, expected, problem = fn(folder)
            except Exception as exc:  # the harness itself failed: counted as a failure
                outcome, expected, problem = Outcome(-1, "", ""), {0}, f"harness: {exc!r}"
            problems = [problem] if problem else []
            if outcome.code is None:
                hangs += 1
                problems.append("hung (killed at the timeout)")
            elif outcome.code not in expected:
                problems.append(f"exit {outcome.code}, expected {sorted(expected)}")
            elif outcome.code == 2 and not _one_clear_error(outcome.err):
                problems.append(f"exit 2 without one error line: {outcome.err.strip()[-200:]!r}")
            if "Traceback" in outcome.err:
                tracebacks += 1
                problems.append("traceback: " + outcome.err.strip().splitlines()[-1][:200])
            ok = not problems
            passed += ok
            seconds = time.monotonic() - start_time
            status = "ok  " if ok else "FAIL"
            print(f"{status} {name:<44} {seconds:6.1f} s  {'; '.join(problems)}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"soak: {passed}/{total} passed ({hangs} hangs, {tracebacks} tracebacks)")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
