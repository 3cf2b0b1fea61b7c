"""Two gloo processes: rank 1 waits for rank 0's periodic evaluation longer than the process
group's own timeout, on the evaluation's wait group (``--run.eval-timeout``), and trains on."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import torch.distributed as tdist
import torch.multiprocessing as mp

PG_TIMEOUT_S = 3.0
EVAL_S = 6.0  # twice the process group's timeout: a plain barrier would fail on rank 1


def _worker(rank: int, init_file: str, out: str) -> None:
    import torch

    from cyclip.train import train
    from train.conftest import tiny_config
    from train.fakes import TensorPairLoader

    torch.set_num_threads(1)
    tdist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=PG_TIMEOUT_S),
    )

    def slow_eval(model, step):
        time.sleep(EVAL_S)
        return {"slept": EVAL_S}

    cfg = tiny_config(Path(out), optim={"max_steps": 2}, run={"eval_every": 2, "eval_timeout": 60})
    loader = TensorPairLoader(64, batch_size=4, rank=rank, world_size=2)
    start = time.perf_counter()
    result = train(cfg, loader=loader, eval_fn=slow_eval)
    (Path(out) / f"rank{rank}.json").write_text(
        json.dumps({"step": result.step, "seconds": time.perf_counter() - start})
    )
    tdist.destroy_process_group()


def test_other_ranks_wait_for_the_evaluation_beyond_the_process_group_timeout(tmp_path):
    mp.spawn(
        _worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
        start_method="spawn",
    )  # fmt: skip
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["step"] for r in ranks] == [2, 2]
    assert ranks[1]["seconds"] > EVAL_S  # rank 1 did wait for rank 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [m for m in lines if "eval" in m]
    assert [m["step"] for m in evals] == [2] and evals[0]["eval"]["slept"] == EVAL_S
