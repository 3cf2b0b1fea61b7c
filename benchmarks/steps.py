"""In-process timing of full training steps on a fixed synthetic batch (no input pipeline).

Used for the objective overhead (CyCLIP vs CLIP step, Cy-SigLIP vs SigLIP, SigLIP vs CLIP), the
precision ratio (bf16 vs fp32 step)
and the GPU measurement. The compared variants alternate step by step (A B A B ...), so that a
colleague's job starting half-way slows both alike; each variant's time is the median of its
steps after ``warmup`` untimed ones.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from cyclip.losses import BASE_OBJECTIVES, CyCLIPLoss
from cyclip.models import create_model
from cyclip.train.loop import TrainStep
from cyclip.train.optim import build_optimizer
from cyclip.train.setup import configure_backends


def synthetic_batch(image_size: int, context_length: int, batch: int, seed: int = 0) -> dict:
    """Random normalised-range images (B, 3, S, S) and token ids (B, L) with an end token."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, image_size, image_size, generator=g)
    texts = torch.randint(1, 49000, (batch, context_length), generator=g)
    lengths = torch.randint(4, context_length, (batch,), generator=g)
    texts[torch.arange(batch), lengths] = 49407  # end-of-text: the text tower pools at argmax
    texts[torch.arange(context_length)[None, :] > lengths[:, None]] = 0
    return {"images": images, "texts": texts}


def make_step(
    model_name: str,
    loss: CyCLIPLoss,
    precision: str,
    device: torch.device,
    attention_kernel: str = "auto",
) -> tuple[TrainStep, dict]:
    base = BASE_OBJECTIVES[loss.objective]  # SigLIP's model has a logit_bias
    init = {"init_logit_scale": base.init_logit_scale, "init_logit_bias": base.init_logit_bias}
    bundle = create_model(model_name, device=device, **init)
    model = bundle.model.train()
    optimizer = build_optimizer(
        model, lr=1e-4, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=device
    )
    step = TrainStep(
        model,
        model,
        loss,
        optimizer,
        device=device,
        precision=precision,  # type: ignore[arg-type]
        attention_kernel=attention_kernel,  # type: ignore[arg-type]
    )
    cfg = model.visual.image_size
    size = cfg[0] if isinstance(cfg, tuple | list) else int(cfg)
    return step, {"image_size": size, "context_length": model.context_length}


def interleaved_step_times(
    variants: dict[str, Callable[[], None]], steps: int, warmup: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Seconds per call of each variant, alternating variants call by call."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(steps):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def step_comparison(
    model_name: str,
    variants: dict[str, tuple],
    *,
    batch: int,
    steps: int,
    warmup: int,
    device: str = "cpu",
) -> dict[str, dict]:
    """Time full training steps of several (precision, loss kwargs) variants of one model.

    Args:
        variants: name -> (precision, CyCLIPLoss keyword arguments[, attention kernel]).

    Returns:
        name -> ``{"step_s": [...], "median_s", "samples_per_s"}``.
    """
    dev = torch.device(device)
    configure_backends(False, dev)
    torch.manual_seed(0)
    fns = {}
    for name, (precision, loss_kwargs, *kernel) in variants.items():
        step, shapes = make_step(model_name, CyCLIPLoss(**loss_kwargs), precision, dev, *kernel)
        data = synthetic_batch(shapes["image_size"], shapes["context_length"], batch)
        fns[name] = lambda step=step, data=data: step([data], 1e-4)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = interleaved_step_times(fns, steps, warmup, sync)
    return {
        name: {
            "step_s": ts,
            "median_s": statistics.median(ts),
            "samples_per_s": batch / statistics.median(ts),
        }
        for name, ts in times.items()
    }


CLIP = {"lambda_inmodal": 0.0, "lambda_crossmodal": 0.0}
CYCLIP = {"lambda_inmodal": 0.25, "lambda_crossmodal": 0.25, "normalization": "mean"}
SIGLIP = {**CLIP, "objective": "siglip"}
CY_SIGLIP = {**CYCLIP, "objective": "siglip"}
