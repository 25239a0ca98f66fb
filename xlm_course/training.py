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
from .runtime import PRECISIONS, autocast, resolve, to_device
from .validation import (
    check_non_negative_number,
    check_positive_int,
    check_positive_ints,
    check_positive_numbers,
)

Batch = Mapping[str, torch.Tensor | Mapping[str, torch.Tensor]]  # nested per objective (chapter 3.2)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator of one step of a run: a pure function of (seed, step), so that a resumed run draws
    the batches it would have drawn. 1,000,003 is a prime larger than any step count, so no two (seed, step)
    pairs of the course share a stream."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def step_random(seed: int, step: int) -> random.Random:
    """Python's ``random.Random`` for one step, seeded as :func:`step_generator`."""
    return random.Random(seed * 1_000_003 + step)


# Seeds of the epochs' permutations: seed * 10_007 + epoch. 10,007 is a prime above any epoch count of the
# course, so no two (seed, epoch) pairs share a permutation (step_generator's rule, for epochs).
EPOCH_SEED_STRIDE = 10_007


def epoch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of ``count`` rows for one epoch, a pure function of (seed, epoch)."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch))


def epoch_rows(count: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The rows of ``step``'s batch when training walks through ``count`` rows in shuffled epochs (every row once
    an epoch; a last part-batch is dropped): a pure function of (seed, step), so a run can resume exactly."""
    check_positive_int("count", count)
    check_positive_int("batch_size", batch_size)
    epoch, position = divmod(step, max(1, count // batch_size))
    return epoch_order(count, seed, epoch)[position * batch_size:(position + 1) * batch_size].tolist()


def step_rows(count: int, batch_size: int, generator: torch.Generator) -> list[int]:
    """``batch_size`` of ``count`` rows drawn with replacement from a step's ``generator``
    (:func:`step_generator`), which the batch may go on drawing from (its masking, chapter 8.2)."""
    check_positive_int("count", count)
    check_positive_int("batch_size", batch_size)
    return torch.randint(count, (batch_size,), generator=generator).tolist()


@dataclass(frozen=True)
class RunConfig:
    """What every training run of the course has: steps, batch size, learning rate, warm-up, length, seed,
    device and precision (``None``: the ones :func:`xlm_course.runtime.setup` chose). Validated once, here;
    each task's configuration extends it and gives the loop its :meth:`training` config."""

    steps: int = 300  # a fixed budget whatever the data size: ~1 min for a tiny encoder on one CPU core
    batch_size: int = 32  # rows a step; the tiny encoders' steps cost little, so more steps beat bigger batches
    learning_rate: float = 5e-4  # AdamW's peak rate for a whole (tiny) encoder; heads alone take more (8.1)
    warmup_steps: int = 30  # a tenth of the steps: Adam's first estimates of the variance are noisy
    max_length: int = 32  # tokens a text: the UI messages and emoji names of the course fit (chapter 1 measures)
    seed: int = 0  # batches, initialisation and dropout: the same seed gives the same run
    device: str | None = None  # None: the one runtime.setup() chose
    precision: str | None = None  # None: the one runtime.setup() chose (fp32, bf16 or fp16)
    weight_decay: float = 0.01  # BERT's; on matrices only (training._optimizer)
    max_grad_norm: float | None = 1.0  # clip the gradient's global norm, as BERT and the HF Trainer do
    eval_every: int | None = None  # evaluate every so many steps (and at the end); None: never, it costs a pass

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size", "max_length")
        check_positive_int("eval_every", self.eval_every, optional=True)
        check_positive_numbers(self, "learning_rate")
        check_positive_int("warmup_steps", self.warmup_steps, minimum=0, maximum=self.steps)  # at most `steps`
        check_positive_int("seed", self.seed, minimum=0)
        if self.device is not None and not isinstance(self.device, (str, torch.device)):
            raise ValueError(f"device must be a name such as 'cpu' or 'cuda', or None, got {self.device!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or None (automatic), got {self.precision!r}")
        check_non_negative_number("weight_decay", self.weight_decay)
        if self.max_grad_norm is not None:
            check_positive_numbers(self, "max_grad_norm")

    def training(self, **loop: object) -> TrainingConfig:
        """The loop's :class:`TrainingConfig`: this run's fields, plus ``loop`` options (``progress``,
        checkpoints) and any overrides."""
        shared = {f.name: getattr(self, f.name) for f in fields(RunConfig)}
        return TrainingConfig(**{**shared, **loop})


@dataclass(frozen=True)
class TrainingConfig(RunConfig):
    """:class:`RunConfig` plus what only the loop needs: progress bar and checkpoints. ``warmup_steps`` of
    linear warm-up, then linear decay to 0."""

    checkpoint_every: int | None = None  # None: no checkpoints (the course's runs are minutes long)
    checkpoint_dir: str | Path | None = None  # where step-NNNNNNN folders go; needed by checkpoint_every
    keep_checkpoints: int | None = 2  # the newest two survive a crash while writing; None keeps every one
    progress: bool = True  # a tqdm bar; the package's own helpers turn it off inside notebooks

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_ints(self, "checkpoint_every", "keep_checkpoints",
                            optional=("checkpoint_every", "keep_checkpoints"))
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs a checkpoint_dir to write to")


@dataclass
class History:
    """Every logged loss term per step, and every evaluation."""

    losses: list[dict[str, float]] = field(default_factory=list)
    evaluations: list[dict[str, float | dict[str, float]]] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """Losses as a DataFrame indexed by step."""
        return pd.DataFrame(self.losses).set_index("step") if self.losses else pd.DataFrame()

    def evaluation_frame(self) -> pd.DataFrame:
        """Evaluations as a DataFrame indexed by step. A nested result (``{"dev": {"en": 0.5}}``, what
        :func:`~xlm_course.transfer.finetune` records) becomes two column levels, read as ``frame["dev", "en"]``."""
        rows = {}
        for record in self.evaluations:
            rows[record["step"]] = {(key, inner) if isinstance(value, Mapping) else key: inner_value
                                    for key, value in record.items() if key != "step"
                                    for inner, inner_value in (value.items() if isinstance(value, Mapping)
                                                               else [(None, value)])}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "step"
        return frame


def _optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW. Matrices (embeddings, projections) decay; vectors (biases, LayerNorm gains) do not: decay pulls a
    gain towards 0, which is not a simpler model but a different one. The rule is the dimension, not the name."""
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    decay = [parameter for parameter in trainable if parameter.dim() >= 2]
    no_decay = [parameter for parameter in trainable if parameter.dim() < 2]
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


def _resume(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, config: TrainingConfig,
            device: torch.device) -> tuple[History, int]:
    """The history and first step of a run: from the newest checkpoint of ``config.checkpoint_dir`` (weights,
    optimizer, schedule, random state), or a fresh start seeded with ``config.seed``."""
    checkpoint = latest_checkpoint(config.checkpoint_dir)
    if checkpoint is None:
        torch.manual_seed(config.seed)
        return History(), 0
    load_model(model, str(checkpoint / "model.safetensors"), device=str(device))
    state = torch.load(checkpoint / "state.pt", weights_only=True, map_location=device)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"].cpu())
    return History(list(state["losses"]), list(state["evaluations"])), state["step"] + 1


def _backward_and_step(loss: torch.Tensor, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       scaler: torch.amp.GradScaler, max_grad_norm: float | None) -> None:
    """One optimiser step: the (scaled) backward pass, gradients clipped to ``max_grad_norm``, the update."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Batch], Mapping[str, torch.Tensor]],
          batch_fn: Callable[[int], Batch], config: TrainingConfig,
          evaluate: Callable[[torch.nn.Module], Mapping[str, float]] | None = None,
          after_step: Callable[[int], None] | None = None) -> History:
    """Train ``model`` for ``config.steps`` steps on ``config.device`` in ``config.precision`` (``None``: what
    :func:`~xlm_course.runtime.setup` chose); resume from the newest checkpoint if there is one.

    ``batch_fn(step)`` returns a dict of tensors, or of such dicts (one per objective: chapter 3.2); it is moved
    to the device whole. ``loss_fn(model, batch)`` returns a dict of scalar losses whose ``"loss"`` entry is
    minimised; every entry is recorded in the history. ``after_step(step)`` runs after each optimiser step
    (AdaLoRA's rank budget, chapter 8, is updated there). The model is left on the device, in eval mode.
    One step is written out in chapters 3.2 (pretraining) and 3.4 (fine-tuning).
    """
    device, precision = resolve(config.device, config.precision)
    model.to(device)
    optimizer = _optimizer(model, config)
    # fp16 has too few exponent bits for small gradients: scale the loss up, and the gradients back down
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(config))
    history, start = _resume(model, optimizer, scheduler, config, device)
    model.train()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not config.progress,
               desc="training")
    for step in bar:
        batch = to_device(batch_fn(step), device)
        with autocast(device, precision):
            losses = loss_fn(model, batch)
        if not torch.isfinite(losses["loss"]):
            raise FloatingPointError(f"the loss is {losses['loss'].item()} at step {step}; lower the learning rate")
        _backward_and_step(losses["loss"], model, optimizer, scaler, config.max_grad_norm)
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
