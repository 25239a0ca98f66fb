"""One training loop for every chapter (chapters 3, 5, 6, 8).

``train(model, loss_fn, batch_fn, config)`` runs AdamW with linear warm-up and decay, gradient clipping,
optional bf16 autocast, a tqdm progress bar, a history of every loss term, an evaluation callback, and
checkpoints written atomically as safetensors (weights) plus a ``weights_only``-loadable state file (optimizer,
schedule, random state, history). ``batch_fn(step)`` must build the batch of a step from the step number alone,
so a resumed run sees exactly the batches it would have seen: with the same seed, a run interrupted and resumed
ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

Batch = Mapping[str, torch.Tensor]


def check_positive_ints(config: object, *names: str, optional: tuple[str, ...] = ()) -> None:
    """Raise a ValueError naming the field when one of ``names`` is not a positive int (``optional``: or None)."""
    for name in names:
        value = getattr(config, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            accepted = "a positive int or None" if name in optional else "a positive int"
            raise ValueError(f"{name} must be {accepted}, got {value!r}")


def check_positive_numbers(config: object, *names: str) -> None:
    """Raise a ValueError naming the field when one of ``names`` is not a positive (finite) number."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_warmup(config: object) -> None:
    """Raise a ValueError unless ``config.warmup_steps`` lies in [0, ``config.steps``]."""
    if not 0 <= config.warmup_steps <= config.steps:
        raise ValueError(f"warmup_steps must lie in [0, steps={config.steps}], got {config.warmup_steps!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :func:`train`. ``warmup_steps`` of linear warm-up, then linear decay to 0."""

    steps: int
    learning_rate: float = 5e-4
    warmup_steps: int = 0
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    bf16: bool = False
    eval_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_dir: str | Path | None = None
    keep_checkpoints: int = 2
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive int, got {self.steps!r}")
        check_warmup(self)
        check_positive_numbers(self, "learning_rate")
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs a checkpoint_dir to write to")
        for name in ("eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")


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
                    scheduler: torch.optim.lr_scheduler.LRScheduler, history: History, keep: int = 2) -> Path:
    """Write ``directory/step-NNNNNNN`` atomically: built in a temporary folder, then renamed into place."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:07d}"
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
    try:
        save_model(model, str(staging / "model.safetensors"))
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state(), "losses": history.losses, "evaluations": history.evaluations},
                   staging / "state.pt")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in _checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: str | Path | None) -> Path | None:
    """The newest complete checkpoint in ``directory``, or None."""
    found = _checkpoints(Path(directory)) if directory is not None else []
    return found[-1] if found else None


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Batch], Mapping[str, torch.Tensor]],
          batch_fn: Callable[[int], Batch], config: TrainingConfig,
          evaluate: Callable[[torch.nn.Module], Mapping[str, float]] | None = None,
          device: torch.device | str = "cpu", after_step: Callable[[int], None] | None = None) -> History:
    """Train ``model`` for ``config.steps`` steps; resume from the newest checkpoint if there is one.

    ``loss_fn(model, batch)`` returns a dict of scalar losses whose ``"loss"`` entry is minimised; every entry
    is recorded in the history. ``after_step(step)`` runs after each optimiser step (AdaLoRA's rank budget,
    chapter 8, is updated there).
    """
    device = torch.device(device)
    model.to(device)
    optimizer = _optimizer(model, config)
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
        batch = {key: value.to(device) for key, value in batch_fn(step).items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=config.bf16):
            losses = loss_fn(model, batch)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
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
            with torch.no_grad():
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
