"""The training side of the sentence terms (:mod:`cyclip.losses.simcse`): their config checks,
the objective with the term, the NLI loader, and the staged variant's text-tower stage.

Staged variant: ``--run.stage text`` trains the text tower alone with the sentence term (no image
is embedded; the image tower and the logit scale are frozen); its checkpoints hold the whole
model, and ``--model.text-init RUN_DIR`` starts any run whose text tower has the same shapes from
that text tower (:mod:`cyclip.models.text_init`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

from cyclip.losses import SENTENCE_TERMS, SentenceObjective
from cyclip.models.text_init import text_parameter_names


def sentence_active(loss_cfg: Any) -> bool:
    """Whether the objective has a sentence term (a term named and a weight > 0)."""
    return loss_cfg.sentence_term != "none" and loss_cfg.lambda_sentence > 0


def check_sentence(cfg: Any) -> list[str]:
    """Problems of the sentence-term settings of a ``TrainConfig``, one line each."""
    loss, data, run = cfg.loss, cfg.data, cfg.run
    out = []
    if loss.sentence_term not in SENTENCE_TERMS:
        out.append(
            f"--loss.sentence-term must be one of {', '.join(SENTENCE_TERMS)}, "
            f"got '{loss.sentence_term}'"
        )
        return out
    if not (math.isfinite(loss.lambda_sentence) and loss.lambda_sentence >= 0):
        out.append(
            f"--loss.lambda-sentence must be a finite number >= 0, got {loss.lambda_sentence}"
        )
    if not (math.isfinite(loss.sentence_temperature) and loss.sentence_temperature > 0):
        out.append(
            f"--loss.sentence-temperature must be a finite number > 0, got "
            f"{loss.sentence_temperature} (SimCSE: 0.05)"
        )
    if not 0 <= loss.sentence_dropout < 1:
        out.append(f"--loss.sentence-dropout must be in [0, 1), got {loss.sentence_dropout}")
    if loss.sentence_term == "supervised" and data.sentence_data is None:
        out.append(
            "--loss.sentence-term supervised needs NLI triplets: give --data.sentence-data "
            "(a CSV with columns sent0,sent1,hard_neg)"
        )
    if data.sentence_data is not None and not Path(data.sentence_data).is_file():
        out.append(
            f"--data.sentence-data {data.sentence_data}: no such file; give a CSV with columns "
            "sent0,sent1,hard_neg"
        )
    text_init = cfg.model.text_init
    if text_init is not None and not Path(text_init).exists():
        out.append(
            f"--model.text-init {text_init}: no such checkpoint file or run directory (e.g. the "
            "run directory of a --run.stage text run)"
        )
    if data.sentence_data is not None and loss.sentence_term != "supervised":
        out.append(
            f"--data.sentence-data {data.sentence_data} is read by --loss.sentence-term "
            "supervised only; add that flag or drop the data"
        )
    if run.stage == "text" and not sentence_active(loss):
        out.append(
            "--run.stage text trains the text tower with a sentence objective: give "
            "--loss.sentence-term unsupervised or supervised (and --loss.lambda-sentence > 0)"
        )
    if loss.sentence_term == "unsupervised" and data.inmodal_augment:
        out.append(
            "--loss.sentence-term unsupervised with --data.inmodal-augment is not supported "
            "(the views would be EDA captions); choose one"
        )
    return out


def build_objective(base: nn.Module, loss_cfg: Any, stage: str = "joint") -> nn.Module:
    """``base`` itself without a sentence term (exactly today's objective), else
    :class:`SentenceObjective` around it (or alone, for the text stage)."""
    if not sentence_active(loss_cfg):
        return base
    text_only = stage == "text"
    return SentenceObjective(
        None if text_only else base,
        loss_cfg.sentence_term,
        lambda_sentence=loss_cfg.lambda_sentence,
        temperature=loss_cfg.sentence_temperature,
        dropout=loss_cfg.sentence_dropout,
        text_only=text_only,
    )


def freeze_all_but_text(model: nn.Module) -> int:
    """The text stage: only the text tower trains (DDP then ignores the unused image tower and
    logit scale). Returns the number of trainable tensors."""
    text = text_parameter_names(model)
    for name, param in model.named_parameters():
        param.requires_grad_(name in text)
    return len(text)


def attach_sentence_data(loader: Any, cfg: Any, tokenizer: Any, rank: int, world: int) -> Any:
    """The training loader with NLI triplets in every batch when the supervised term is on."""
    if not (sentence_active(cfg.loss) and cfg.loss.sentence_term == "supervised"):
        return loader
    from cyclip.data.sentences import with_triplets

    return with_triplets(
        loader,
        cfg.data.sentence_data,
        tokenizer,
        batch_size=cfg.data.sentence_batch_size,
        rank=rank,
        world_size=world,
        seed=cfg.run.seed,
    )


def load_text_init(model: nn.Module, path: str) -> int:
    """Load the text tower of the run / checkpoint at ``path`` into ``model``."""
    from cyclip.models.text_init import load_text_tower, read_text_tower

    return load_text_tower(model, read_text_tower(path), path)
