"""Ranking with a dual encoder: train it with in-batch negatives, rank a pool, score the ranking (chapter 6).

One encoder embeds both sides (a question and its answer, a user's history and an item); the score of a pair is
the cosine of their mean-pooled vectors. Training uses InfoNCE with in-batch negatives (chapter 4), exactly the
alignment loss of pretraining, now on task pairs. Metrics, for queries each with a set of relevant pool items:

* accuracy@1: the share of queries whose top-ranked item is relevant;
* MRR: the mean of 1 / (rank of the first relevant item);
* recall@k: the share of a query's relevant items found in its top k, averaged over queries;
* precision@k: the share of the top k that is relevant, averaged over queries.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from .models.encoder import mean_pool
from .objectives import info_nce
from .training import TrainingConfig, check_positive_ints, check_positive_numbers, train
from .transfer import EncoderSource


def ranking_metrics(scores: torch.Tensor, relevant: Sequence[Collection[int]],
                    ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """accuracy@1, MRR, recall@k and precision@k of a (queries × pool) score matrix, higher scores first."""
    if scores.ndim != 2 or len(relevant) != scores.shape[0] or scores.shape[0] == 0:
        raise ValueError(f"scores must be (queries, pool) with one relevant set per query; got {tuple(scores.shape)} "
                         f"and {len(relevant)} sets")
    if any(not items for items in relevant):
        raise ValueError("every query needs at least one relevant item")
    if any(not 0 <= item < scores.shape[1] for items in relevant for item in items):
        raise ValueError(f"relevant items must be pool indices in [0, {scores.shape[1]})")
    order = scores.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(scores.shape[1]).expand_as(order).contiguous())
    first, recall, precision = [], {k: [] for k in ks}, {k: [] for k in ks}
    for row, items in enumerate(relevant):
        item_ranks = ranks[row, list(items)]
        first.append(int(item_ranks.min()))
        for k in ks:
            found = float((item_ranks < k).sum())
            recall[k].append(found / len(items))
            precision[k].append(found / min(k, scores.shape[1]))
    first_rank = torch.tensor(first, dtype=torch.float)
    metrics = {"accuracy@1": float((first_rank == 0).float().mean()), "MRR": float((1 / (first_rank + 1)).mean())}
    metrics.update({f"recall@{k}": sum(values) / len(values) for k, values in recall.items()})
    metrics.update({f"precision@{k}": sum(values) / len(values) for k, values in precision.items()})
    return metrics


@torch.no_grad()
def embed(encoder: PreTrainedModel, source: EncoderSource, texts: Sequence[str], languages: Sequence[str],
          max_length: int = 32, batch_size: int = 256) -> torch.Tensor:
    """Unit-length mean-pooled embeddings of ``texts`` (one row each)."""
    if len(texts) != len(languages):
        raise ValueError(f"need one language per text, got {len(texts)} texts and {len(languages)} languages")
    encoder.eval()
    parts = []
    for start in range(0, len(texts), batch_size):
        inputs = source.encode(texts[start:start + batch_size], languages[start:start + batch_size], max_length)
        parts.append(_pooled(encoder, inputs))
    return F.normalize(torch.cat(parts), dim=-1)


def _pooled(encoder: PreTrainedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"])


@dataclass(frozen=True)
class DualEncoderConfig:
    """Fine-tuning of a dual encoder with in-batch negatives."""

    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 3e-4
    warmup_steps: int = 30
    temperature: float = 0.05
    max_length: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_ints(self, "steps", "batch_size", "max_length")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the other pairs of a batch are the negatives")
        check_positive_numbers(self, "temperature", "learning_rate")


def train_dual_encoder(source: EncoderSource, queries: Sequence[str], query_languages: Sequence[str],
                       positives: Sequence[str], positive_languages: Sequence[str], groups: Sequence[str],
                       config: DualEncoderConfig = DualEncoderConfig(), progress: bool = False) -> PreTrainedModel:
    """Fine-tune ``source``'s encoder so that each query ranks its positive first among the batch's positives.

    ``groups`` names what a pair is about (a dialogue, a topic): a batch holds at most one pair per group, so that
    no in-batch negative is secretly another right answer.
    """
    sizes = {len(queries), len(query_languages), len(positives), len(positive_languages), len(groups)}
    if len(sizes) != 1:
        raise ValueError("queries, positives, their languages and groups must have the same length")
    distinct = sorted(set(groups))
    if len(distinct) < config.batch_size:
        raise ValueError(f"{len(distinct)} groups cannot fill a batch of {config.batch_size} distinct groups")
    by_group: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        by_group.setdefault(group, []).append(index)
    encoder = source.encoder(seed=config.seed)

    def batch_fn(step: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        chosen_groups = torch.randperm(len(distinct), generator=generator)[:config.batch_size].tolist()
        rows = []
        for group_index in chosen_groups:
            members = by_group[distinct[group_index]]
            rows.append(members[int(torch.randint(len(members), (1,), generator=generator))])
        left = source.encode([queries[i] for i in rows], [query_languages[i] for i in rows], config.max_length)
        right = source.encode([positives[i] for i in rows], [positive_languages[i] for i in rows], config.max_length)
        return {**{f"q_{k}": v for k, v in left.items()}, **{f"p_{k}": v for k, v in right.items()}}

    def loss_fn(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        left = {k[2:]: v for k, v in batch.items() if k.startswith("q_")}
        right = {k[2:]: v for k, v in batch.items() if k.startswith("p_")}
        return {"loss": info_nce(_pooled(model, left), _pooled(model, right), config.temperature)}

    train(encoder, loss_fn, batch_fn, TrainingConfig(steps=config.steps, learning_rate=config.learning_rate,
                                                     warmup_steps=config.warmup_steps, seed=config.seed,
                                                     progress=progress))
    return encoder.eval()
