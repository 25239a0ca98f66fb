"""Data-parallel fine-tuning with torch.distributed: the same run on one process or on several (chapter 8.4).

Every process holds a full copy of the model; each step, the *global* batch (a pure function of the step) is
cut into one shard per process, each process computes the gradient of its shard's mean loss, and
``DistributedDataParallel`` averages the gradients across processes before the optimiser step. With equal
shards the average of shard means is the mean over the global batch, so the run follows the single-process run
with the same global batch, up to floating-point summation order. Dropout is off in both, so that nothing
random differs between them, and both run in fp32 on the CPU (gloo): the comparison is about the algorithm, not
about the rounding of bf16.

Two engines run the same loop. ``torch`` writes DDP out (``init_process_group``, ``DistributedDataParallel``,
``all_reduce``); ``accelerate`` lets 🤗 Accelerate do those three things (``Accelerator.prepare``,
``accelerator.backward``, ``accelerator.reduce``). On two CPU processes with the gloo backend::

    torchrun --standalone --nproc_per_node 2 -m xlm_course.deployment.distributed --output losses.json
    accelerate launch --multi_gpu --num_processes 2 -m xlm_course.deployment.distributed --engine accelerate --output losses.json

or ``python -m xlm_course.deployment.distributed --output losses.json`` for one process. (``--multi_gpu`` is Accelerate's
name for "several processes on this machine"; the script asks for ``Accelerator(cpu=True)``, so they use gloo
on CPUs even where GPUs exist.)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..models.source import EncoderSource, replace_config
from ..runtime import available_cores, set_threads
from ..transfer import course_encoders, emoji_category_task

ENGINES: tuple[str, ...] = ("torch", "accelerate")
OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


def global_batch(texts: Sequence[str], source: EncoderSource, step: int, size: int, labels: torch.Tensor,
                 max_length: int = 32) -> dict[str, torch.Tensor]:
    """The batch of ``step``: the same English rows in every process and in the single-process run."""
    if len(texts) != len(labels):
        raise ValueError(f"need one label per text, got {len(texts)} texts and {len(labels)} labels")
    chosen = torch.randint(len(labels), (size,), generator=torch.Generator().manual_seed(step)).tolist()
    batch = source.encode([texts[i] for i in chosen], ["en"] * size, max_length)
    return {**batch, "labels": labels[chosen]}


def shard(batch: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """Rows ``rank``, ``rank + world``, ... of every tensor: one equal shard per process."""
    if len(batch["labels"]) % world:
        raise ValueError(f"a global batch of {len(batch['labels'])} does not split into {world} equal shards")
    return {key: value[rank::world] for key, value in batch.items()}


class TorchEngine:
    """DDP written out: the process group from torchrun's environment, the wrapper, the all-reduce."""

    def __init__(self) -> None:
        self.distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        if self.distributed:  # a missing peer fails after two minutes instead of hanging for half an hour
            dist.init_process_group("gloo", timeout=timedelta(minutes=2))
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if self.distributed else (0, 1)

    def prepare(self, model: torch.nn.Module, optimizer_factory: OptimizerFactory) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        if self.distributed:
            model = torch.nn.parallel.DistributedDataParallel(model)
        return model, optimizer_factory(model.parameters())

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()  # DDP all-reduces (averages) the gradients here

    def mean(self, value: torch.Tensor) -> float:
        value = value.detach().clone()
        if self.distributed:
            dist.all_reduce(value)
            value /= self.world
        return float(value)

    def unwrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.module if self.distributed else model

    def close(self) -> None:
        if self.distributed:
            dist.barrier()  # leave together: a rank that tears down while its peer still talks can hang it
            dist.destroy_process_group()


class AccelerateEngine:
    """The same four operations done by 🤗 Accelerate (which builds the DDP wrapper itself)."""

    def __init__(self) -> None:
        from accelerate import Accelerator

        self.accelerator = Accelerator(cpu=True)
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes

    def prepare(self, model: torch.nn.Module, optimizer_factory: OptimizerFactory) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        return self.accelerator.prepare(model, optimizer_factory(model.parameters()))

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def mean(self, value: torch.Tensor) -> float:
        return float(self.accelerator.reduce(value.detach().clone(), reduction="mean"))

    def unwrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return self.accelerator.unwrap_model(model)

    def close(self) -> None:
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()


def fit(runner: TorchEngine | AccelerateEngine, model: torch.nn.Module,
        batch_fn: Callable[[int], dict[str, torch.Tensor]], steps: int,
        learning_rate: float) -> tuple[torch.nn.Module, list[float]]:
    """The training loop both engines share: this process's shard of each step, AdamW, the mean loss."""
    model, optimizer = runner.prepare(model, lambda parameters: torch.optim.AdamW(parameters, lr=learning_rate))
    losses = []
    for step in range(steps):
        batch = dict(batch_fn(step))
        targets = batch.pop("labels")
        loss = F.cross_entropy(model(**batch).logits, targets)
        optimizer.zero_grad(set_to_none=True)
        runner.backward(loss)
        optimizer.step()
        losses.append(runner.mean(loss))
    return model, losses


def run(steps: int = 30, batch_size: int = 32, learning_rate: float = 5e-4, seed: int = 0,
        engine: str = "torch") -> dict[str, object]:
    """Fine-tune the chapter 3.4 classifier on English; distributed if launched by torchrun or ``accelerate
    launch``, else on one process. ``engine`` is ``"torch"`` (DDP written out) or ``"accelerate"``.

    Returns (on every rank) the global-batch loss of each step, a checksum of the final weights and the class
    of the module that was trained (``DistributedDataParallel`` when the engine wrapped it).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    runner = TorchEngine() if engine == "torch" else AccelerateEngine()
    rank, world = runner.rank, runner.world
    set_threads(max(1, available_cores() // world))  # the processes share the machine's cores
    source = course_encoders()["jointly pretrained"]
    source = replace(source, config=replace_config(source.config, hidden_dropout_prob=0.0,
                                                   attention_probs_dropout_prob=0.0, classifier_dropout=0.0))
    task = emoji_category_task()
    rows = task.rows("train", ["en"])
    texts, labels = list(rows["text"]), torch.tensor(rows["label"])
    model = source.classifier(task.labels, seed=seed)
    model.train()
    model, losses = fit(runner, model, lambda step: shard(global_batch(texts, source, step, batch_size, labels),
                                                          rank, world), steps, learning_rate)
    wrapper = type(model).__name__
    weights = runner.unwrap(model).state_dict()
    checksum = float(sum(value.double().abs().sum() for value in weights.values()))
    runner.close()
    return {"engine": engine, "world_size": world, "losses": losses, "checksum": checksum, "wrapper": wrapper}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--engine", choices=ENGINES, default="torch")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    result = run(args.steps, args.batch_size, engine=args.engine)
    if int(os.environ.get("RANK", "0")) == 0:
        args.output.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
