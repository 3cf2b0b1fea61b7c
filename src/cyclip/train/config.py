"""Typed, frozen configuration of a training run; each field is also a ``cyclip train`` flag.

``TrainConfig`` composes one section per concern (``model``, ``data``, ``loss``, ``optim``,
``run``). Flags are ``--<section>.<field>`` (``--optim.lr 1e-3``, ``--loss.name clip``); a YAML or
TOML file with the same nested sections is read by ``--config FILE`` (see
:mod:`cyclip.train.config_file`). The defaults are a small CPU run of ``cyclip-small`` on the
builtin synthetic world.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from cyclip.data import DataConfig
from cyclip.losses import (
    CyclicImpl,
    Normalization,
    SentenceTerm,
    SigLipDistImpl,
    base_objective,
    is_cyclic_name,
    loss_names,
)
from cyclip.precision import Precision
from cyclip.train.attention import AttentionKernel

LossName = str
"""A loss name of the registry of base objectives (``cyclip.losses.BASE_OBJECTIVES``)."""
LOSS_NAMES: tuple[LossName, ...] = loss_names()  # clip, cyclip, siglip, cy-siglip
DEFAULT_LAMBDA = 0.25  # the paper's weight of each cyclic term


@dataclass(frozen=True)
class ModelConfig:
    """Which network to train and how."""

    name: str = "cyclip-small"
    """open_clip architecture ('cyclip models' lists them), e.g. cyclip-tiny, cyclip-small, ViT-B-32, RN50."""
    pretrained: str | None = None
    """Initial weights: an open_clip pretrained tag (e.g. openai) or a local checkpoint file; None trains from scratch."""
    force_image_size: int | None = None
    """Override the architecture's input resolution (pixels)."""
    force_context_length: int | None = None
    """Override the text context length (tokens)."""
    text_tower: str | None = None
    """A Hugging Face / sentence-transformers encoder as the text tower: a local folder (read offline) or a hub id; None = the architecture's own (cyclip-small-minilm: sentence-transformers/all-MiniLM-L6-v2)."""
    lock_image: bool = False
    """Freeze the image tower (LiT)."""
    lock_image_unlocked_groups: int = 0
    """With lock_image: leave this many last layer groups of the image tower trainable."""
    lock_image_freeze_bn_stats: bool = False
    """With lock_image: also freeze BatchNorm running statistics (ResNet towers)."""
    lock_text: bool = False
    """Freeze the text tower."""
    lock_text_unlocked_layers: int = 0
    """With lock_text: leave this many last transformer layers of the text tower trainable."""
    grad_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% more compute."""
    torch_compile: bool = False
    """Compile the model with torch.compile (slow start-up, faster steps on GPU)."""
    text_init: str | None = None
    """Start the text tower from another run's: a checkpoint file or run directory (e.g. of a --run.stage text run) whose text tower fits this architecture's."""
    attention_kernel: AttentionKernel = "auto"
    """Attention (SDPA) kernel in training: auto = math on CPU in bf16 (1.5x faster steps than torch's flash pick), torch's own choice otherwise; or torch, math, flash, efficient, cudnn."""
    init_logit_scale: float | None = None
    """Initial logit_scale (a log); None = the loss's (siglip: ln 10) or the architecture's (CLIP: ln(1/0.07))."""
    init_logit_bias: float | None = None
    """Initial logit_bias; None = the loss's (siglip: -10; clip: no bias parameter)."""

    def overrides(self) -> dict[str, Any]:
        """Keyword overrides for ``create_model`` that were set (saved in checkpoints); a local
        text tower as an absolute path, so the checkpoint rebuilds from any directory."""
        from cyclip.models.hf_text import resolve_text_tower

        values = {
            "force_image_size": self.force_image_size,
            "force_context_length": self.force_context_length,
            "text_tower": None if self.text_tower is None else resolve_text_tower(self.text_tower),
            "init_logit_scale": self.init_logit_scale,
            "init_logit_bias": self.init_logit_bias,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class LossConfig:
    """The objective: a base loss (CLIP's or SigLIP's) plus CyCLIP's weighted cyclic terms."""

    name: LossName = "cyclip"
    """clip = CLIP's contrastive loss only; cyclip = clip + cyclic terms; siglip = SigLIP's sigmoid loss only; cy-siglip = siglip + cyclic terms."""
    lambda_inmodal: float | None = None
    """Weight of the in-modal cyclic term; None = 0.25 for cyclip and cy-siglip, 0 for clip and siglip. 0 gives C-CyCLIP."""
    lambda_crossmodal: float | None = None
    """Weight of the cross-modal cyclic term; None = 0.25 for cyclip and cy-siglip, 0 for clip and siglip. 0 gives I-CyCLIP."""
    normalization: Normalization = "mean"
    """Cyclic-term divisor: mean = N² (batch-size invariant; learns at every batch size, the default); paper = N, as published: its weight grows with N, and from batch 256 on (64 learns slowly) the loss stalls at ln N with identical embeddings."""
    cyclic_impl: CyclicImpl = "auto"
    """Cyclic-term implementation (same values, different cost): gram O(N·d²), naive O(N²·d), auto = the cheaper one. Formerly 'method'."""
    local_loss: bool = False
    """Distributed, clip: each rank computes only its rows of the contrastive logits (less memory)."""
    dist_impl: SigLipDistImpl = "bidir"
    """Distributed, siglip: open_clip's exchange of captions between ranks: bidir, shift, reduce or gather (all exact)."""
    sentence_term: SentenceTerm = "none"
    """Sentence-embedding term of the text tower (SimCSE): unsupervised = two dropout views of each caption; supervised = NLI triplets of --data.sentence-data; none."""
    lambda_sentence: float = 1.0
    """Weight of the sentence term (0 = no term: exactly the objective without it)."""
    sentence_temperature: float = 0.05
    """SimCSE temperature of the sentence term (cosine / temperature)."""
    sentence_dropout: float = 0.1
    """Dropout of the sentence term's text rows where the text tower has none (open_clip's own text transformer); CLIP rows are untouched."""

    @property
    def objective(self) -> str:
        """The base objective of ``name`` (``cyclip`` -> ``clip``, ``cy-siglip`` -> ``siglip``)."""
        return base_objective(self.name).name

    def resolved(self) -> LossConfig:
        """A copy with the lambdas made concrete (None -> the default for ``name``)."""
        if self.name not in LOSS_NAMES:
            return self  # reported by cyclip.train.config_checks
        default = DEFAULT_LAMBDA if is_cyclic_name(self.name) else 0.0
        return dataclasses.replace(
            self,
            lambda_inmodal=default if self.lambda_inmodal is None else self.lambda_inmodal,
            lambda_crossmodal=default if self.lambda_crossmodal is None else self.lambda_crossmodal,
        )


@dataclass(frozen=True)
class OptimConfig:
    """AdamW, the learning-rate schedule, accumulation, clipping and numeric precision."""

    lr: float = 1e-3
    """Peak learning rate, reached at the end of warm-up."""
    weight_decay: float = 0.1
    """AdamW weight decay for parameters with ndim >= 2 (never gains, biases, logit_scale)."""
    beta1: float = 0.9
    """AdamW first-moment decay."""
    beta2: float = 0.98
    """AdamW second-moment decay."""
    eps: float = 1e-6
    """AdamW epsilon."""
    warmup_steps: int = 100
    """Linear warm-up length in optimiser steps (lr at step 0 is lr/warmup_steps)."""
    epochs: int = 5
    """Passes over the training data (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Train for exactly this many optimiser steps instead of epochs."""
    min_lr: float = 0.0
    """Floor of the cosine decay."""
    accum_steps: int = 1
    """Micro-batches per optimiser step; exact large-batch gradients (see cyclip.train.loop)."""
    grad_clip_norm: float | None = None
    """Clip the global gradient 2-norm to this value; None disables clipping."""
    precision: Precision = "auto"
    """auto: bf16 where the device computes it natively (recent GPUs, CPUs with AVX512-BF16 /
    AMX), else fp32; fp32; bf16 autocast; fp16 autocast with loss scaling (GPU only)."""


@dataclass(frozen=True)
class RunConfig:
    """Where the run writes, how it logs, checkpoints, resumes and evaluates."""

    output_dir: str = "runs"
    """Parent folder of run directories."""
    name: str | None = None
    """Run directory name under output_dir; None = a timestamped name."""
    seed: int = 0
    """Seed for weights init, data order and augmentation."""
    deterministic: bool = False
    """Use deterministic algorithms only (bit-exact reruns and resumes; slower on GPU)."""
    device: str = "auto"
    """auto (CUDA if available), cpu or cuda (the GPU of the process's local rank)."""
    log_every: int = 10
    """Write metrics every this many optimiser steps."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many steps (0 = only at the end of each epoch)."""
    keep_last: int = 3
    """Keep this many step checkpoints (latest.pt is kept in addition)."""
    resume: str | None = None
    """latest (this run's newest checkpoint; starts fresh if there is none), or the path of a checkpoint file or run directory."""
    tensorboard: bool = True
    """Write TensorBoard event files to RUN_DIR/tensorboard."""
    wandb: bool = False
    """Log to Weights & Biases (needs the wandb package)."""
    wandb_project: str = "cyclip"
    """W&B project name."""
    eval_every: int = 0
    """Evaluate every this many steps: the validation loss on data.val_data and the tasks of --run.eval-suite (0 = only at the end of the run; there is always an evaluation at the end when there is something to evaluate)."""
    eval_suite: tuple[str, ...] = ()
    """What --run.eval-every runs beside the validation loss, on the main process: quick (the builtin quick suite, seconds), builtin (the whole builtin suite), and/or TASK=DATA[,KEY=VALUE...] entries naming any 'cyclip eval' task and its data; KEY is train-data, classnames, templates, superclasses, images or a task option. E.g. --run.eval-suite quick zeroshot=../shared/data/cifar10-test-mini sts=../shared/data/sts/stsbenchmark. Logged as eval/<task>/<dataset>/<group>/<metric>."""
    eval_fail_fast: bool = False
    """Stop the run when an evaluation fails (default: report it in one line and train on)."""
    eval_timeout: float = 14400.0
    """Seconds the other processes wait for one evaluation on the main process before stopping with an error."""
    max_nonfinite_in_row: int = 5
    """Stop after this many consecutive steps with a non-finite loss or gradient."""
    progress: bool = True
    """Show a progress bar."""
    allow_config_change: bool = False
    """With --run.resume: accept a changed model, objective or training data (warned, recorded in config-history/)."""
    stage: Literal["joint", "text"] = "joint"
    """joint = image-text training (with the sentence term, if any); text = the text tower alone with --loss.sentence-term (no images, image tower and logit scale frozen): start a later run from it with --model.text-init."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def resolved(self) -> TrainConfig:
        """A copy with defaults that depend on other fields made concrete: the lambdas, and the
        model's initial logit scale and bias from the loss (siglip: ln 10 and -10)."""
        if self.loss.name not in LOSS_NAMES:
            return self  # reported by cyclip.train.config_checks
        base = base_objective(self.loss.name)
        model = self.model
        if model.init_logit_scale is None and base.init_logit_scale is not None:
            model = dataclasses.replace(model, init_logit_scale=base.init_logit_scale)
        if model.init_logit_bias is None and base.init_logit_bias is not None:
            model = dataclasses.replace(model, init_logit_bias=base.init_logit_bias)
        return dataclasses.replace(self, model=model, loss=self.loss.resolved())


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as nested plain data (dicts, lists, str, numbers, None)."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))
