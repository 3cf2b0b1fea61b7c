"""Why CLIP learns colour but hardly shape on the builtin world: the measurements of
docs/results.md, "Why shape is not learned".

Four measurements, each small enough for two shared CPU cores:

- ``captions``: how often a pre-training caption names each object's shape (and colour).
- ``pixels``: object diameter in pixels at the model's input size, next to its patch size.
- ``supervised``: the same image tower trained with a linear head and cross-entropy on
  ``shapes/shape/train``, tested on ``shapes/shape/test`` (if it fails, the tower or the input
  size limits shape; if it succeeds, the contrastive signal does).
- ``clip``: a short CLIP run through :func:`cyclip.train.train` on pre-rendered pairs, then
  zero-shot shape / colour / colour-shape on the test split.

Runs are compared at equal steps (wall time per step is printed beside each, with the load
average), since equal wall-clock comparisons are noise on a shared machine.

    python benchmarks/shape_gap.py captions --n 5000
    python benchmarks/shape_gap.py supervised --model cyclip-tiny --steps 400
    python benchmarks/shape_gap.py clip --model cyclip-rn-tiny --steps 1000 --pairs 51200
    python benchmarks/shape_gap.py steps --models cyclip-small cyclip-rn-tiny --batch-size 256
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import time
from collections import Counter

import torch
import torch.nn.functional as F

from cyclip.models import create_model
from cyclip.world import load_classification, load_pairs
from cyclip.world.vocabulary import COLOURS, SHAPES, SIZES


def _words_pattern(words: list[str]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b")


SHAPE_WORDS = {
    s.name: _words_pattern([s.name, s.plural, *(w for pair in s.synonyms for w in pair)])
    for s in SHAPES
}
COLOUR_WORDS = {c.name: _words_pattern([c.name, *c.synonyms]) for c in COLOURS}


def caption_stats(n: int = 5000, task: str = "shapes/pretrain") -> dict:
    """Shares (percent) of objects whose shape / colour word appears in their scene's caption.

    An object counts as named when a word for its shape (canonical, plural or synonym) occurs in
    the caption; with two objects of one shape, one mention counts for both (an upper bound).
    """
    dataset = load_pairs(task, size=n)
    objects = shape_named = colour_named = 0
    captions_all_shapes = captions_no_shape = 0
    per_shape: Counter = Counter()
    per_shape_named: Counter = Counter()
    for i in range(n):
        scene, caption = dataset.describe_item(i)
        text = caption.lower()
        named = [bool(SHAPE_WORDS[o.shape].search(text)) for o in scene.objects]
        objects += len(named)
        shape_named += sum(named)
        colour_named += sum(bool(COLOUR_WORDS[o.colour].search(text)) for o in scene.objects)
        captions_all_shapes += all(named)
        captions_no_shape += not any(named)
        for o, k in zip(scene.objects, named):
            per_shape[o.shape] += 1
            per_shape_named[o.shape] += k
    return {
        "task": task,
        "captions": n,
        "objects": objects,
        "objects_shape_named_pct": 100 * shape_named / objects,
        "objects_colour_named_pct": 100 * colour_named / objects,
        "captions_naming_every_shape_pct": 100 * captions_all_shapes / n,
        "captions_naming_no_shape_pct": 100 * captions_no_shape / n,
        "per_shape_named_pct": {s: 100 * per_shape_named[s] / per_shape[s] for s in per_shape},
    }


def pixel_sizes(image_size: int, patch_size: int | None) -> dict:
    """Object diameters in pixels at ``image_size`` (the world renders at 64 px, the model's
    preprocess resizes), and how many patches of ``patch_size`` one object spans."""
    out: dict = {"image_size": image_size, "patch_size": patch_size}
    for size in SIZES:
        d = size.diameter * image_size
        out[f"{size.name}_px"] = round(d, 1)
        if patch_size:
            out[f"{size.name}_patches_across"] = round(d / patch_size, 2)
    return out


def _side(value) -> int:
    return value[0] if isinstance(value, (tuple, list)) else value


def _inputs(bundle, task: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    dataset, _ = load_classification(task, size=n)
    images = torch.stack([bundle.preprocess_val(dataset[i]["image"]) for i in range(len(dataset))])
    labels = torch.tensor([dataset.describe_item(i)[1] for i in range(len(dataset))])
    return images, labels  # (N, 3, H, W), (N,)


def _cosine_lr(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def supervised(
    model: str, image_size: int | None, steps: int, batch_size: int, lr: float, seed: int = 0
) -> dict:
    """Train ``model``'s image tower plus a linear head on shape labels; test accuracy (%)."""
    torch.manual_seed(seed)
    bundle = create_model(model, force_image_size=image_size)
    visual = bundle.model.visual
    x_train, y_train = _inputs(bundle, "shapes/shape/train")
    x_test, y_test = _inputs(bundle, "shapes/shape/test")
    head = torch.nn.Linear(bundle.model.text_projection.shape[1], len(SHAPES))
    params = [*visual.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.1)
    generator = torch.Generator().manual_seed(seed)
    curve = {}
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(step, steps, lr, max(1, steps // 10))
        index = torch.randint(0, len(x_train), (batch_size,), generator=generator)
        loss = F.cross_entropy(head(visual(x_train[index])), y_train[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % max(1, steps // 4) == 0 or step + 1 == steps:
            curve[step + 1] = round(_accuracy(visual, head, x_test, y_test), 1)
    seconds = time.perf_counter() - start
    return {
        "model": model,
        "image_size": _side(bundle.model.visual.image_size),
        "steps": steps,
        "batch_size": batch_size,
        "test_top1_by_step": curve,
        "seconds_per_step": round(seconds / steps, 3),
    }


@torch.no_grad()
def _accuracy(visual, head, x: torch.Tensor, y: torch.Tensor) -> float:
    visual.eval()
    pred = torch.cat([head(visual(x[i : i + 256])).argmax(1) for i in range(0, len(x), 256)])
    visual.train()
    return 100 * (pred == y).float().mean().item()


@torch.no_grad()
def _features(model, images: torch.Tensor) -> torch.Tensor:
    chunks = [model.encode_image(images[i : i + 256]) for i in range(0, len(images), 256)]
    return F.normalize(torch.cat(chunks), dim=-1)  # (N, d)


@torch.no_grad()
def zero_shot(bundle, world: str, probe: bool = True) -> dict[str, float]:
    """Zero-shot top-1 (%) on ``{world}/{shape,colour,colour-shape}/test``, and (``probe``) a
    linear probe of the image features on shape, fit on ``{world}/shape/train``."""
    from cyclip.evaluation import build_classifier, linear_probe, zero_shot_metrics

    model = bundle.model.eval()
    images, shape_labels = _inputs(bundle, f"{world}/shape/test")
    features = _features(model, images)
    out = {}
    for factor in ("shape", "colour", "colour-shape"):
        dataset, info = load_classification(f"{world}/{factor}/test")
        labels = torch.tensor([dataset.describe_item(i)[1] for i in range(len(dataset))])
        classifier = build_classifier(model, bundle.tokenizer, info.classnames, info.templates)
        out[factor] = round(zero_shot_metrics(features, labels, classifier)["top1"], 1)
    if probe:
        x_train, y_train = _inputs(bundle, f"{world}/shape/train")
        result = linear_probe(_features(model, x_train), y_train, features, shape_labels)
        out["shape_probe"] = round(result["top1"], 1)
    return out


def clip_run(
    model: str,
    image_size: int | None,
    steps: int,
    batch_size: int,
    lr: float,
    world: str = "shapes",
    seed: int = 0,
    pairs: int | None = None,
    curve_every: int = 0,
) -> dict:
    """A short CLIP run (contrastive loss only) on pre-rendered pairs, then zero-shot.

    ``pairs`` caps the rendered pairs (default one pass: steps x batch size; fewer repeat in
    epochs, as 64 px float images take 48 KiB each); ``curve_every`` also records zero-shot shape
    every that many steps."""
    from cyclip.data import DataConfig
    from cyclip.experiments.pairs import TensorPairLoader, render_pairs
    from cyclip.train import LossConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig, train

    bundle = create_model(model, force_image_size=image_size)
    n = min(steps * batch_size, pairs or steps * batch_size)
    render_start = time.perf_counter()
    images, texts = render_pairs(bundle, n, task=f"{world}/pretrain")
    render_seconds = time.perf_counter() - render_start
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            model=ModelConfig(name=model, force_image_size=image_size),
            data=DataConfig(val_data=None, batch_size=batch_size, workers=0),
            loss=LossConfig(name="clip"),
            optim=OptimConfig(lr=lr, warmup_steps=max(1, steps // 10), max_steps=steps),
            run=RunConfig(
                output_dir=tmp,
                name="run",
                seed=seed,
                log_every=max(1, steps // 4),
                eval_every=curve_every,
                checkpoint_every=0,
                keep_last=1,
                tensorboard=False,
                progress=False,
            ),
        )
        curve: dict[int, float] = {}
        eval_seconds = 0.0

        def shape_curve(model, step: int) -> dict[str, float]:
            nonlocal eval_seconds
            t0 = time.perf_counter()
            was_training = model.training
            shape = zero_shot(bundle._replace(model=model), world, probe=False)["shape"]
            model.train(was_training)
            curve[step] = shape
            eval_seconds += time.perf_counter() - t0
            return {"zero_shot_shape": shape}

        start = time.perf_counter()
        result = train(
            cfg,
            eval_fn=shape_curve if curve_every else None,
            loader=TensorPairLoader(images, texts, batch_size=batch_size, seed=seed),
        )
        seconds = time.perf_counter() - start - eval_seconds
        from cyclip.evaluation import load_model

        loaded = load_model(checkpoint=result.checkpoint)
        scores = zero_shot(loaded.bundle, world)
    return {
        "model": model,
        "image_size": _side(bundle.model.visual.image_size),
        "world": world,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "pairs": n,
        "zero_shot_top1": scores,
        "zero_shot_shape_by_step": curve,
        "train_seconds_per_step": round(seconds / steps, 3),
        "render_seconds": round(render_seconds, 1),
    }


def model_step_times(models: list[str], batch_size: int, steps: int = 5, warmup: int = 1) -> dict:
    """Median seconds of one full CyCLIP ("mean") training step per model, the models' steps
    alternating (A B C A B C ...) so that load changes hit all alike (see benchmarks/steps.py)."""
    import statistics

    from steps import CYCLIP, interleaved_step_times, make_step, synthetic_batch

    from cyclip.losses import CyCLIPLoss

    fns = {}
    for name in models:
        step, shapes = make_step(name, CyCLIPLoss(**CYCLIP), "fp32", torch.device("cpu"))
        data = synthetic_batch(shapes["image_size"], shapes["context_length"], batch_size)
        fns[name] = lambda step=step, data=data: step([data], 1e-4)
    times = interleaved_step_times(fns, steps, warmup, lambda: None)
    return {
        "batch_size": batch_size,
        "median_step_s": {name: round(statistics.median(ts), 3) for name, ts in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("captions", "pixels", "supervised", "clip", "steps"))
    parser.add_argument("--models", nargs="+", default=["cyclip-small", "cyclip-rn-tiny"])
    parser.add_argument("--n", type=int, default=5000, help="captions to count")
    parser.add_argument("--world", default="shapes", help="world prefix, e.g. shapes-v2")
    parser.add_argument("--model", default="cyclip-tiny")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=None, help="cap on rendered pairs (clip)")
    parser.add_argument("--curve-every", type=int, default=0, help="zero-shot shape every N steps")
    args = parser.parse_args()
    if args.what == "captions":
        out = caption_stats(args.n, f"{args.world}/pretrain")
    elif args.what == "pixels":
        visual = create_model(args.model, force_image_size=args.image_size).model.visual
        patch = getattr(visual, "patch_size", None)
        out = pixel_sizes(_side(visual.image_size), _side(patch) if patch else None)
    elif args.what == "steps":
        out = model_step_times(args.models, args.batch_size)
    elif args.what == "supervised":
        out = supervised(
            args.model, args.image_size, args.steps, args.batch_size, args.lr, args.seed
        )
    else:
        out = clip_run(
            args.model,
            args.image_size,
            args.steps,
            args.batch_size,
            args.lr,
            args.world,
            args.seed,
            args.pairs,
            args.curve_every,
        )
    out["load_average"] = [round(x, 1) for x in os.getloadavg()]
    out["torch_threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
