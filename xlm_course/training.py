"""One training loop for every chapter (chapters 3, 5, 6, 8).

``train(model, loss_fn, batch_fn, config)`` runs AdamW with linear warm-up and decay, gradient clipping,
autocast in the precision :mod:`~xlm_course.runtime` chose (bf16, or fp16 with a gradient scaler), a tqdm progress
bar, a history of every loss term, an evaluation callback, and checkpoints written atomically as safetensors
(weights) plus a ``weights_only``-loadable state file (optimizer, schedule, random state, history).
``batch_fn(step)`` must build the batch of a step from the step number alone (:func:`step_generator`), so a
resumed run sees exactly the batches it would have seen: with the same seed, a run interrupted and resumed ends
with the same weights as one that never stopped.

Every task's configuration extends :class:`RunConfig` (steps, batch size, learning rate, warm-up, length, seed,
device, precision), validated once here, and hands the loop its :class:`TrainingConfig` through
:meth:`RunConfig.training`.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from .cache import atomic_directory
from .runtime import PRECISIONS, autocast, resolve
from .validation import (
    check_positive_int,
    check_positive_ints,
    check_positive_numbers,
)

Batch = Mapping[str, torch.Tensor]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator of one step of a run: a pure function of (seed, step), so that a resumed run draws
    the batches it would have drawn. 1,000,003 is a prime larger than any step count, so no two (seed, step)
    pairs of the course share a stream."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def step_random(seed: int, step: int) -> random.Random:
    """Python's ``random.Random`` for one step, seeded as :func:`step_generator`."""
    return random.Random(seed * 1_000_003 + step)


def epoch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of ``count`` rows for one epoch, a pure function of (seed, epoch)."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 10_007 + epoch))


@dataclass(frozen=True)
class RunConfig:
    """What every training run of the course has: steps, batch size, learning rate, warm-up, length, seed,
    device and precision (``None``: the ones :func:`xlm_course.runtime.setup` chose). Validated once, here;
    each task's configuration extends it and gives the loop its :meth:`training` config."""

    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_steps: int = 30
    max_length: int = 32
    seed: int = 0
    device: str | None = None
    precision: str | None = None
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size", "max_length")
        check_positive_numbers(self, "learning_rate")
        check_positive_int("warmup_steps", self.warmup_steps, minimum=0, maximum=self.steps)  # at most `steps`
        check_positive_int("seed", self.seed, minimum=0)
        if self.device is not None and not isinstance(self.device, (str, torch.device)):
            raise ValueError(f"device must be a name such as 'cpu' or 'cuda', or None, got {self.device!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or None (automatic), got {self.precision!r}")
        weight_decay = self.weight_decay
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) \
                or not 0 <= weight_decay < float("inf"):
            raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
        if self.max_grad_norm is not None:
            check_positive_numbers(self, "max_grad_norm")

    def training(self, **loop: object) -> TrainingConfig:
        """The loop's :class:`TrainingConfig`: this run's shared fields, plus ``loop`` options (``eval_every``,
        ``progress``, checkpoints) and any overrides."""
        shared = {f.name: getattr(self, f.name) for f in fields(RunConfig)}
        return TrainingConfig(**{**shared, **loop})


@dataclass(frozen=True)
class TrainingConfig(RunConfig):
    """:class:`RunConfig` plus what only the loop needs: evaluation, progress bar and checkpoints.
    ``warmup_steps`` of linear warm-up (none by default), then linear decay to 0."""

    warmup_steps: int = 0
    eval_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_dir: str | Path | None = None
    keep_checkpoints: int | None = 2  # None keeps every checkpoint
    progress: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_ints(self, "eval_every", "checkpoint_every", "keep_checkpoints",
                            optional=("eval_every", "checkpoint_every", "keep_checkpoints"))
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs a checkpoint_dir to write to")


@dataclass
class History:
    """Every logged loss term per step, and every evaluation."""

    losses: list[dict[str, float]] = field(default_factory=list)
    evaluations: list[dict[str, float]] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """Losses as a DataFrame indexed by step."""
        return pd.DataFrame(self.losses).set_index("step") if self.losses else pd.DataFrame()

    def evaluation_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.evaluations).set_index("step") if self.evaluations else pd.DataFrame()


def _optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW; biases and LayerNorm weights are not decayed (as in BERT)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all parameters in one pass (CPU and CUDA), as transformers' Trainer does.
    fused = all(p.device.type in ("cpu", "cuda") for group in groups for p in group["params"])
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)


def linear_warmup_decay(config: TrainingConfig) -> Callable[[int], float]:
    """The learning-rate factor at a step: linear from 0 to 1 over warm-up, then linearly down to 0."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        remaining = config.steps - config.warmup_steps
        return max(0.0, (config.steps - step) / remaining) if remaining else 1.0

    return factor


def _checkpoints(directory: Path) -> list[Path]:
    return sorted(directory.glob("step-*[0-9]")) if directory.exists() else []


def save_checkpoint(directory: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, history: History,
                    keep: int | None = 2) -> Path:
    """Write ``directory/step-NNNNNNN`` atomically (:func:`~xlm_course.cache.atomic_directory`); keep the
    newest ``keep`` checkpoints (``None``: all)."""
    check_positive_int("keep", keep, optional=True)
    final = Path(directory) / f"step-{step:07d}"
    with atomic_directory(final) as staging:
        save_model(model, str(staging / "model.safetensors"))
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(), "losses": history.losses, "evaluations": history.evaluations},
                   staging / "state.pt")
    if keep is not None:
        for old in _checkpoints(Path(directory))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: str | Path | None) -> Path | None:
    """The newest complete checkpoint in ``directory``, or None."""
    found = _checkpoints(Path(directory)) if directory is not None else []
    return found[-1] if found else None


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Batch], Mapping[str, torch.Tensor]],
          batch_fn: Callable[[int], Batch], config: TrainingConfig,
          evaluate: Callable[[torch.nn.Module], Mapping[str, float]] | None = None,
          after_step: Callable[[int], None] | None = None) -> History:
    """Train ``model`` for ``config.steps`` steps on ``config.device`` in ``config.precision`` (``None``: what
    :func:`~xlm_course.runtime.setup` chose); resume from the newest checkpoint if there is one.

    ``loss_fn(model, batch)`` returns a dict of scalar losses whose ``"loss"`` entry is minimised; every entry
    is recorded in the history. ``after_step(step)`` runs after each optimiser step (AdaLoRA's rank budget,
    chapter 8, is updated there). The model is left on the device, in eval mode.
    """
    device, precision = resolve(config.device, config.precision)
    model.to(device)
    optimizer = _optimizer(model, config)
    # fp16 has too few exponent bits for small gradients: scale the loss up, and the gradients back down
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(config))
    history, start = History(), 0
    checkpoint = latest_checkpoint(config.checkpoint_dir)
    if checkpoint is not None:
        load_model(model, str(checkpoint / "model.safetensors"), device=str(device))
        state = torch.load(checkpoint / "state.pt", weights_only=True, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        history = History(list(state["losses"]), list(state["evaluations"]))
        start = state["step"] + 1
    else:
        torch.manual_seed(config.seed)
    model.train()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not config.progress,
               desc="training")
    for step in bar:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch_fn(step).items()}
        with autocast(device, precision):
            losses = loss_fn(model, batch)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.max_grad_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        if after_step is not None:
            after_step(step)
        scheduler.step()
        record = {"step": step, "lr": scheduler.get_last_lr()[0]}
        record.update({name: float(value.detach()) for name, value in losses.items()})
        history.losses.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)
        last = step == config.steps - 1
        if evaluate is not None and config.eval_every and ((step + 1) % config.eval_every == 0 or last):
            model.eval()
            with torch.no_grad(), autocast(device, precision):
                history.evaluations.append({"step": step, **evaluate(model)})
            model.train()
        if config.checkpoint_every and ((step + 1) % config.checkpoint_every == 0 or last):
            save_checkpoint(config.checkpoint_dir, step, model, optimizer, scheduler, history,
                            config.keep_checkpoints)
    model.eval()
    return history


def smoothed(values: pd.Series, window: int = 20) -> pd.Series:
    """A centred rolling mean, for plotting noisy loss curves."""
    return values.rolling(max(1, min(window, math.ceil(len(values) / 5))), min_periods=1, center=True).mean()
