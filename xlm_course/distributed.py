"""Data-parallel fine-tuning with torch.distributed: the same run on one process or on several (chapter 8.3).

Every process holds a full copy of the model; each step, the *global* batch (a pure function of the step) is
cut into one shard per process, each process computes the gradient of its shard's mean loss, and
``DistributedDataParallel`` averages the gradients across processes before the optimiser step. With equal
shards the average of shard means is the mean over the global batch, so the run follows the single-process run
with the same global batch, up to floating-point summation order. Dropout is off in both, so that nothing
random differs between them.

Run on two CPU processes with the gloo backend::

    torchrun --nproc_per_node 2 -m xlm_course.distributed --steps 30 --output losses.json

or, without ``torchrun``, ``python -m xlm_course.distributed --steps 30 --output losses.json`` for one process.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .transfer import EncoderSource, course_encoders, emoji_category_task, replace_config


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


def run(steps: int = 30, batch_size: int = 32, learning_rate: float = 5e-4, seed: int = 0) -> dict[str, object]:
    """Fine-tune the chapter 3.4 classifier on English; distributed if launched by torchrun, else one process.

    Returns (on every rank) the global-batch loss of each step and a checksum of the final weights.
    """
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // world))  # the processes share the machine's cores
    source = course_encoders()["jointly pretrained"]
    source = replace(source, config=replace_config(source.config, hidden_dropout_prob=0.0,
                                                   attention_probs_dropout_prob=0.0, classifier_dropout=0.0))
    task = emoji_category_task()
    rows = task.rows("train", ["en"])
    texts, labels = list(rows["text"]), torch.tensor(rows["label"])
    model = source.classifier(task.labels, seed=seed)
    model.train()
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    losses = []
    for step in range(steps):
        batch = shard(global_batch(texts, source, step, batch_size, labels), rank, world)
        targets = batch.pop("labels")
        loss = F.cross_entropy(model(**batch).logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        reported = loss.detach().clone()
        if distributed:
            dist.all_reduce(reported)
            reported /= world
        losses.append(float(reported))
    weights = (model.module if distributed else model).state_dict()
    checksum = float(sum(value.double().abs().sum() for value in weights.values()))
    if distributed:
        dist.destroy_process_group()
    return {"world_size": world, "losses": losses, "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    result = run(args.steps, args.batch_size)
    if int(os.environ.get("RANK", "0")) == 0:
        args.output.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
