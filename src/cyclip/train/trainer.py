"""``train(cfg)``: the training entry point. ``Trainer.__init__`` and ``Trainer.run`` read as
the table of contents of a run; each line is a function of its own module.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cyclip import distributed as dist
from cyclip.data.timeouts import DataTimeoutError
from cyclip.rundir import CheckpointPayload, RunDir
from cyclip.train.checkpoint import (
    CheckpointManager,
    load_checkpoint,
    load_with_fallback,
    newest_checkpoint,
    remove_stale_temp_files,
)
from cyclip.train.config import TrainConfig, config_to_dict
from cyclip.train.config_checks import raise_if_invalid
from cyclip.train.config_file import ConfigError
from cyclip.train.guards import (
    CollapseAlarm,
    NonFiniteGuard,
    SkipMonitor,
    StopRequest,
    StopRequested,
    TrainingError,
)
from cyclip.train.logging import MetricsLogger, ThroughputMeter, format_duration
from cyclip.train.loop import StepResult, TrainStep
from cyclip.train.optim import build_optimizer, lr_at
from cyclip.train.periodic import build_periodic_evaluation, evaluated_at, open_eval_suite
from cyclip.train.resume_check import check_resume_config
from cyclip.train.rng import derive_seed, gather_rng_states, restore_rank_rng_state, seed_everything
from cyclip.train.sentence import freeze_all_but_text
from cyclip.train.setup import (
    build_loader,
    build_loss,
    build_model,
    build_validation,
    configure_backends,
    find_resume_checkpoint,
    prepare_run_dir,
    resolve_train_precision,
    steps_per_epoch,
    wrap_model,
    write_config,
)
from cyclip.train.state import Progress, restore_training_state, training_checkpoint

EvalFn = Callable[[nn.Module, int], Mapping[str, Any]]
"""``eval_fn(model, step) -> metrics``: called on the main process with the unwrapped model."""


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    step: int
    """Optimiser steps done."""
    epoch: int
    """Epoch the run would continue in."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Last logged training metrics, with the last evaluation under ``"eval"``."""
    checkpoint: Path | None = None
    """The last checkpoint written."""
    stopped_by: str | None = None
    """``"SIGINT"`` / ``"SIGTERM"`` when a signal stopped the run early, else None."""


def train(cfg: TrainConfig, *, eval_fn: EvalFn | None = None, loader: Any = None) -> TrainResult:
    """Train a CLIP / CyCLIP model as ``cfg`` says; works alone or under torchrun / SLURM.

    Args:
        cfg: the run's configuration (validated here first; see :func:`validate`).
        eval_fn: optional periodic evaluation ``(model, step) -> metrics`` run every
            ``cfg.run.eval_every`` steps and at the end on the main process, after the
            validation loss and ``cfg.run.eval_suite`` (see :mod:`cyclip.train.periodic`);
            its metrics are logged in the same "eval" lines.
        loader: a prebuilt training loader honouring the ``cyclip.data.TrainLoader`` contract
            (``set_epoch(epoch, start_batch)``, ``len()``, batch dicts) instead of one built from
            ``cfg.data``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: invalid configuration (every problem, one per line).
        TrainingError: the run had to stop (non-finite losses, too many unreadable samples).
    """
    cfg = cfg.resolved()
    raise_if_invalid(cfg)
    if cfg.run.eval_every and cfg.data.val_data is None and eval_fn is None:
        if not cfg.run.eval_suite:
            raise ConfigError(
                "--run.eval-every has nothing to evaluate: give --data.val-data (validation "
                "pairs) or --run.eval-suite (e.g. quick)"
            )
    owns_process_group = not dist.is_distributed()
    info = dist.init_distributed(device=cfg.run.device)
    cfg, precision_line = resolve_train_precision(cfg, info.device)
    held = contextlib.ExitStack()  # releases the run directory's lock, even if setup fails
    try:
        try:
            trainer = Trainer(cfg, info.device, eval_fn=eval_fn, loader=loader, held=held)
        except ConfigError:
            raise
        except (ValueError, FileNotFoundError) as exc:
            # The data and model layers reject what only they can check (a CSV without the
            # caption column, an unreadable weights file): still the user's input to fix.
            raise ConfigError(str(exc)) from exc
        if dist.is_main_process():  # once the setup has accepted the config
            print(f"train: {precision_line}", flush=True)  # stdout: stderr is for problems
        try:
            return trainer.run()
        except DataTimeoutError as exc:  # a read that does not return, a stuck worker
            raise TrainingError(f"{exc}; continue with --run.resume latest") from exc
        except RuntimeError as exc:
            # PyTorch reports a dead worker from its SIGCHLD handler, i.e. at any point of a step.
            if "DataLoader worker" not in str(exc):
                raise
            raise TrainingError(
                f"{str(exc).strip().splitlines()[0].rstrip('. ')}: a data loading process died "
                "(often the out-of-memory killer, or a crash while decoding an image). Rerun "
                "with --data.workers 0 to see the error in the main process, or lower "
                "--data.workers / --data.batch-size; continue with --run.resume latest."
            ) from exc
    finally:
        held.close()
        if owns_process_group:
            dist.cleanup()


class Trainer:
    """One training run: set up in ``__init__``, executed by :meth:`run`."""

    def __init__(
        self,
        cfg: TrainConfig,
        device: torch.device,
        *,
        eval_fn: EvalFn | None = None,
        loader: Any = None,
        held: contextlib.ExitStack | None = None,
    ) -> None:
        """``held``: where the run directory's lock is registered for release (by default it is
        released when :meth:`run` returns)."""
        self.cfg, self.device = cfg, device
        self.main = dist.is_main_process()
        eval_suite = open_eval_suite(cfg.run.eval_suite)  # before the model: bad data fails fast
        configure_backends(cfg.run.deterministic, device)
        seed_everything(cfg.run.seed)  # the same initial weights on every rank
        bundle = build_model(cfg.model, device)
        self.raw_model = bundle.model
        if cfg.run.stage == "text":  # the text tower alone (cyclip.train.sentence)
            freeze_all_but_text(self.raw_model)
        self.loader = loader if loader is not None else build_loader(cfg, bundle)
        self.total_steps = cfg.optim.max_steps or cfg.optim.epochs * steps_per_epoch(
            self.loader, cfg
        )
        self.run_dir, self.lock = prepare_run_dir(cfg.run, cfg.model, cfg.loss)
        if held is not None:
            held.callback(self.lock.release)
        self.optimizer = build_optimizer(
            self.raw_model,
            lr=cfg.optim.lr,
            weight_decay=cfg.optim.weight_decay,
            betas=(cfg.optim.beta1, cfg.optim.beta2),
            eps=cfg.optim.eps,
            device=device,
        )
        self.step_fn = TrainStep(
            wrap_model(self.raw_model, device, compile_model=cfg.model.torch_compile),
            self.raw_model,
            build_loss(cfg.loss, cfg.run.stage),
            self.optimizer,
            device=device,
            precision=cfg.optim.precision,
            grad_clip_norm=cfg.optim.grad_clip_norm,
            attention_kernel=cfg.model.attention_kernel,
        )
        self.nonfinite = NonFiniteGuard(cfg.run.max_nonfinite_in_row)
        self.collapse = CollapseAlarm(cfg.optim.warmup_steps, cfg.loss)
        epoch_size = len(self.loader) * cfg.data.batch_size * dist.world_size()
        self.skips = SkipMonitor(cfg.data.max_skip_rate, epoch_size)
        self.validation = build_validation(cfg, bundle, device)
        self.periodic = build_periodic_evaluation(
            cfg.run,
            eval_suite,
            bundle,
            validation=self.validation,
            eval_fn=eval_fn,
            timeouts=cfg.data.timeouts,
        )
        self.checkpoints = CheckpointManager(RunDir(self.run_dir).checkpoints, cfg.run.keep_last)
        self.progress = Progress()
        self.pending_rng: list[dict[str, Any]] | None = None
        seed_everything(cfg.run.seed + dist.rank())  # different augmentations on each rank
        self._resume(find_resume_checkpoint(cfg.run, self.run_dir))
        write_config(self.run_dir, cfg)
        self.logger = MetricsLogger(
            self.run_dir if self.main else None,
            tensorboard=cfg.run.tensorboard,
            wandb=cfg.run.wandb,
            wandb_project=cfg.run.wandb_project,
            run_name=self.run_dir.name,
            config=config_to_dict(cfg),
            total_steps=self.total_steps,
            initial_step=self.progress.step,
            progress=cfg.run.progress,
        )
        self.throughput = ThroughputMeter()
        self.stop = StopRequest()
        self.stop_now = False
        self.last_metrics: dict[str, Any] = {}
        self.last_checkpoint: Path | None = None
        self.saved_position: tuple[int, int, int] | None = None
        self.evaluated_step = self._evaluated_before()

    # ----------------------------------------------------------------------------- the run

    def run(self) -> TrainResult:
        """Train until ``total_steps``, a signal, or a :class:`TrainingError`."""
        start = time.perf_counter()
        try:
            with self.stop:
                if self.pending_rng is not None:
                    # The last thing before the first batch: nothing may draw from the generators
                    # between the restore and the data, as in the uninterrupted run.
                    restore_rank_rng_state(
                        self.pending_rng, seed=self.cfg.run.seed, step=self.progress.step
                    )
                if self.periodic.enabled:
                    self.logger.message(self._evaluation_plan())
                if self._evaluation_due():  # resumed at a scheduled step a stop left unevaluated
                    self._evaluate()
                while self.progress.step < self.total_steps and not self.stop_now:
                    step_before, whole_epoch = self.progress.step, self.progress.batch_in_epoch == 0
                    self._train_epoch()
                    if whole_epoch and self.progress.step == step_before and not self.stop_now:
                        raise self.skips.no_batch_error(self.progress.epoch - 1)
                if self.periodic.enabled and not self.stop_now:
                    self._evaluate()
                if self.saved_position != self.progress.position():
                    self._save()
            stopped_by = None
            if self.stop_now:  # the signal may have reached another rank only
                stopped_by = signal.Signals(self.stop.signum or signal.SIGTERM).name
            if stopped_by:
                self.logger.message(
                    f"stopped by {stopped_by} at step {self.progress.step}; checkpoint saved "
                    f"to {self.last_checkpoint or self.checkpoints.directory}"
                )
            else:
                for line in self.periodic.summary():
                    self.logger.message(line)
                self.logger.message(self._summary(time.perf_counter() - start))
        finally:
            self.logger.close()
            self.lock.release()
        return TrainResult(
            run_dir=self.run_dir,
            step=self.progress.step,
            epoch=self.progress.epoch,
            metrics=dict(self.last_metrics),
            checkpoint=self.last_checkpoint,
            stopped_by=stopped_by,
        )

    def _summary(self, seconds: float) -> str:
        """The end-of-run line: steps, final loss, checkpoint, wall time."""
        loss = self.last_metrics.get("loss")
        final = f"final loss {loss:.4g}" if isinstance(loss, int | float) else "no step logged"
        checkpoint = self.last_checkpoint or self.checkpoints.directory
        return (
            f"done: {self.progress.step} steps, {final}, checkpoint {checkpoint}, "
            f"in {format_duration(seconds)}"
        )

    def _evaluation_plan(self) -> str:
        every = self.cfg.run.eval_every
        when = (
            f"every {every} steps and at the end of the run" if every else "at the end of the run"
        )
        labels = self.periodic.labels
        if self.validation is not None:
            labels[0] = f"validation loss on {self.cfg.data.val_data}"
        return f"evaluation: {', '.join(labels)} {when}"

    def _evaluation_due(self) -> bool:
        """Whether the current step is on the evaluation schedule and not evaluated yet."""
        every, step = self.cfg.run.eval_every, self.progress.step
        scheduled = bool(every) and step > 0 and step % every == 0
        return scheduled and self.periodic.enabled and self.evaluated_step != step

    def _evaluated_before(self) -> int:
        """The resumed step if the interrupted run's metrics.jsonl has its evaluation, else -1
        (the same answer on every rank)."""
        step = self.progress.step
        logged = self.main and step > 0 and evaluated_at(RunDir(self.run_dir).metrics, step)
        return step if dist.broadcast_object(logged) else -1

    def _train_epoch(self) -> None:
        """Steps over the rest of the current epoch (or until the run must stop)."""
        accum, p = self.cfg.optim.accum_steps, self.progress
        self.loader.set_epoch(p.epoch, start_batch=p.batch_in_epoch)
        micro: list[dict[str, Any]] = []
        for batch in self._batches():
            micro.append(batch)
            p.batch_in_epoch += 1
            if len(micro) < accum:
                continue
            self._train_step(micro)
            micro = []
            if self.stop_now:
                return
            if p.step >= self.total_steps:
                if p.batch_in_epoch + accum > len(self.loader):  # it was the epoch's last step
                    self._end_epoch()
                return
        if not self.stop_now:
            self._end_epoch()

    def _batches(self) -> Iterator[dict[str, Any]]:
        """The loader's batches. Its iterator is created under a generator state that depends
        only on (seed, epoch, rank), so creating it (which draws worker seeds) neither depends
        on nor disturbs the training RNG stream: a resumed run sees the same stream."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.cfg.run.seed, self.progress.epoch, dist.rank()))
            iterator = iter(self.loader)
        while True:
            try:
                with self.stop.waiting_for_data():
                    batch = next(iterator)
            except StopIteration:
                return
            except StopRequested:  # SIGTERM / Ctrl-C during a read that would not return
                self.stop_now = True
                return
            except Exception:
                if self.stop.requested:  # Ctrl-C also reached the DataLoader workers
                    self.stop_now = True
                    return
                raise
            yield batch

    def _train_step(self, micro: list[dict[str, Any]]) -> None:
        """One optimiser step, then the bookkeeping that follows it."""
        n_good = self._exchange_counts(micro)
        if n_good == 0:  # every sample of this step was unreadable, on every rank
            return
        p, optim, run = self.progress, self.cfg.optim, self.cfg.run
        lr = lr_at(
            p.step,
            base_lr=optim.lr,
            warmup_steps=optim.warmup_steps,
            total_steps=self.total_steps,
            min_lr=optim.min_lr,
        )
        result = self.step_fn(micro, lr)
        p.step += 1
        p.samples += n_good
        self.throughput.add(n_good)
        self.nonfinite.update(
            result.updated, step=p.step, losses=result.losses, precision=optim.precision
        )
        logged = None
        if p.step % run.log_every == 0 or p.step == self.total_steps:
            logged = self._log(result, lr)
            alarm = self.collapse.update(p.step, n_good, logged)
            if alarm is not None:
                self.logger.message(alarm)
        self.logger.advance(1, logged)
        if self._evaluation_due() and not self.stop_now:  # a stop saves first; resume evaluates
            self._evaluate()
        if run.checkpoint_every and p.step % run.checkpoint_every == 0:
            self._save()

    def _exchange_counts(self, micro: list[dict[str, Any]]) -> int:
        """Sum good and skipped samples and stop requests over ranks (one small all-reduce), so
        that every rank takes the same decisions; returns the step's good samples."""
        good = sum(int(b["images"].shape[0]) for b in micro)
        skipped = sum(int(b.get("n_skipped", 0)) for b in micro)
        examples = [str(e) for b in micro for e in b.get("skipped_examples", ())]
        counts = torch.tensor(
            [good, skipped, float(self.stop.requested)], dtype=torch.float64, device=self.device
        )
        n_good, n_skipped, stop_votes = (int(v) for v in dist.all_reduce_sum_(counts).tolist())
        self.skips.record(n_good, n_skipped, examples)
        self.skips.check(epoch=self.progress.epoch, end_of_epoch=False)
        self.stop_now = stop_votes > 0  # every rank stops after the same step
        return n_good

    def _end_epoch(self) -> None:
        self.skips.check(epoch=self.progress.epoch, end_of_epoch=True)
        self.progress.epoch += 1
        self.progress.batch_in_epoch = 0
        self.skips.new_epoch()
        self._save()

    # ----------------------------------------------------------------------- bookkeeping

    def _log(self, result: StepResult, lr: float) -> dict[str, Any]:
        terms = {**result.losses, **result.residuals}
        if dist.is_distributed():  # local_loss values and residuals differ between ranks
            values = torch.tensor(list(terms.values()), dtype=torch.float64, device=self.device)
            terms = dict(zip(terms, dist.all_reduce_mean_(values).tolist()))
        p = self.progress
        metrics = {
            "step": p.step,
            "epoch": p.epoch,
            "samples": p.samples,
            "lr": lr,
            "logit_scale": float(self.raw_model.logit_scale.detach().exp()),
            **_logit_bias(self.raw_model),
            **terms,
            "grad_norm": result.grad_norm,
            "samples_per_s": self.throughput.rate(),
            "epoch_skipped": self.skips.skipped,
            "nonfinite_skipped": self.nonfinite.total,
            "time": time.time(),
        }
        self.logger.log_train(metrics)
        self.last_metrics = {**metrics, "eval": self.last_metrics.get("eval", {})}
        self.throughput.reset()
        return metrics

    def _evaluate(self) -> None:
        """The periodic evaluation on the main process (once per step); the others wait. Its
        time is kept out of samples/s."""
        if self.evaluated_step == self.progress.step:
            return
        start, step, outcome = time.perf_counter(), self.progress.step, None
        if self.main:
            outcome = self.periodic.evaluate(self.raw_model, step)
            for line in outcome.messages:
                self.logger.message(line)
            self.logger.log_eval(step, outcome.metrics, failed=outcome.failed)
            self.last_metrics["eval"] = outcome.metrics
        self.evaluated_step = step
        self.periodic.wait(outcome, step)
        self.throughput.pause(time.perf_counter() - start)

    def _save(self) -> None:
        """Checkpoint the whole training state (a collective: every rank's RNG is gathered)."""
        start = time.perf_counter()
        rng = gather_rng_states(self.device)
        if self.main:
            checkpoint = training_checkpoint(
                cfg=self.cfg,
                model=self.raw_model,
                optimizer=self.optimizer,
                scaler=self.step_fn.scaler,
                progress=self.progress,
                total_steps=self.total_steps,
                rng=rng,
                counters={**self.skips.state_dict(), **self.nonfinite.state_dict()},
            )
            try:
                self.last_checkpoint = self.checkpoints.save(checkpoint, self.progress.step)
            except OSError as exc:  # disk full, read-only or vanished directory
                raise TrainingError(
                    f"could not write the checkpoint of step {self.progress.step} to "
                    f"{self.checkpoints.directory} ({exc.strerror or exc}); the newest "
                    f"complete checkpoint is {newest_checkpoint(self.checkpoints.directory)}. "
                    "Free disk space or fix the directory's permissions, then continue with "
                    "--run.resume latest."
                ) from exc
        dist.barrier()
        self.saved_position = self.progress.position()
        self.throughput.pause(time.perf_counter() - start)

    def _resume(self, path: Path | None) -> None:
        """Load a checkpoint's state (its RNG states are applied at the start of :meth:`run`)."""
        if self.main:
            remove_stale_temp_files(self.checkpoints.directory)
        if path is None:
            return
        ckpt, path = self._load_resume_checkpoint(path)
        changed = check_resume_config(
            ckpt.get("config") or {},
            config_to_dict(self.cfg),
            allow_change=self.cfg.run.allow_config_change,
            source=path.name,
        )
        for note in changed if self.main else ():
            print(f"cyclip train: warning: {note}", file=sys.stderr, flush=True)
        self.progress = restore_training_state(
            ckpt,
            path,
            cfg=self.cfg,
            model=self.raw_model,
            optimizer=self.optimizer,
            scaler=self.step_fn.scaler,
        )
        self.skips.load_state_dict(ckpt.get("counters", {}))
        self.nonfinite.load_state_dict(ckpt.get("counters", {}))
        self.pending_rng = ckpt.get("rng")
        if self.main:
            p = self.progress
            print(f"resuming from {path} at step {p.step} (epoch {p.epoch})", flush=True)

    def _load_resume_checkpoint(self, path: Path) -> tuple[CheckpointPayload, Path]:
        """The checkpoint at ``path``; for ``latest`` or a directory, the newest complete one
        when the newest is unreadable (one line per skipped file)."""
        resume = str(self.cfg.run.resume)
        if resume != "latest" and not Path(resume).is_dir():
            return load_checkpoint(path), path
        loaded, ckpt, notes = load_with_fallback(path)
        if self.main:
            for note in notes:
                print(f"cyclip train: warning: {note}", file=sys.stderr, flush=True)
        return ckpt, loaded


__all__ = ["EvalFn", "TrainResult", "Trainer", "TrainingError", "train"]


def _logit_bias(model: nn.Module) -> dict[str, float]:
    """``{"logit_bias": b}`` for a model with a bias (SigLIP), else nothing."""
    bias = getattr(model, "logit_bias", None)
    return {} if bias is None else {"logit_bias": float(bias.detach())}
