"""Ranking and retrieval: score a ranking, retrieve translations, train a dual encoder (chapters 3, 6).

One encoder embeds both sides (a question and its answer, a user's history and an item); the score of a pair is
the cosine of their mean-pooled vectors. Training uses InfoNCE with in-batch negatives (chapter 4), exactly the
alignment loss of pretraining, now on task pairs. Metrics, for queries each with a set of relevant pool items:

* accuracy@1: the share of queries whose top-ranked item is relevant;
* MRR: the mean of 1 / (rank of the first relevant item);
* recall@k: the share of a query's relevant items found in its top k, averaged over queries;
* precision@k: the share of the top k that is relevant, averaged over queries.

Cross-lingual sentence retrieval (Tatoeba / XTREME, chapter 3) is the special case with one relevant item per
query, the one on the diagonal: for N held-out messages and their translations, each English sentence looks for
its translation among all N (en → xx), and the other way round (xx → en); :func:`top1_accuracy` is accuracy@1,
and a model that knows nothing scores about 1/N.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from .models.encoder import mean_pool
from .objectives import info_nce
from .runtime import evaluating
from .training import RunConfig, step_generator, train
from .validation import check_positive_numbers

if TYPE_CHECKING:  # a type only: transfer's encoders import pretraining, which imports this module
    from .transfer.encoders import EncoderSource


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


def top1_accuracy(queries: torch.Tensor, candidates: torch.Tensor) -> float:
    """Share of rows i whose nearest candidate (cosine) is candidate i: :func:`ranking_metrics`' accuracy@1 with
    the diagonal as each query's one relevant item."""
    if queries.shape != candidates.shape or queries.ndim != 2 or len(queries) == 0:
        raise ValueError(f"queries and candidates must both be (N, d) with N > 0, got {tuple(queries.shape)} and "
                         f"{tuple(candidates.shape)}")
    similarity = F.normalize(queries.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T
    return ranking_metrics(similarity.cpu(), [[i] for i in range(len(queries))], ks=(1,))["accuracy@1"]


def retrieval_table(embed: Callable[[Sequence[str], str], torch.Tensor],
                    pairs: Mapping[str, tuple[Sequence[str], Sequence[str]]], pivot: str = "en") -> pd.DataFrame:
    """Top-1 retrieval per language: ``pairs[lang] = (pivot sentences, their translations in lang)``.

    ``embed(texts, lang)`` returns one vector per text. Columns: ``pairs`` (N), ``en→xx``, ``xx→en``,
    ``mean`` and ``chance`` (1/N).
    """
    rows = {}
    for lang, (sources, targets) in pairs.items():
        if len(sources) != len(targets) or not sources:
            raise ValueError(f"{lang}: need as many translations as sources, and at least one, got "
                             f"{len(sources)} and {len(targets)}")
        source_vectors, target_vectors = embed(list(sources), pivot), embed(list(targets), lang)
        forward, backward = top1_accuracy(source_vectors, target_vectors), top1_accuracy(target_vectors,
                                                                                         source_vectors)
        rows[lang] = {"pairs": len(sources), f"{pivot}→xx": forward, f"xx→{pivot}": backward,
                      "mean": (forward + backward) / 2, "chance": 1 / len(sources)}
    return pd.DataFrame.from_dict(rows, orient="index")


def embed(encoder: PreTrainedModel, source: EncoderSource, texts: Sequence[str], languages: Sequence[str],
          max_length: int = 32, batch_size: int = 256, device: torch.device | str | None = None,
          precision: str | None = None) -> torch.Tensor:
    """Unit-length mean-pooled embeddings of ``texts`` (one float32 row each, on the CPU), computed on ``device``
    (default: the one setup chose)."""
    if len(texts) != len(languages):
        raise ValueError(f"need one language per text, got {len(texts)} texts and {len(languages)} languages")
    parts = []
    with evaluating(encoder, device, precision) as chosen:
        for start in range(0, len(texts), batch_size):
            inputs = source.encode(texts[start:start + batch_size], languages[start:start + batch_size], max_length)
            parts.append(_pooled(encoder, {key: value.to(chosen) for key, value in inputs.items()}).float().cpu())
    return F.normalize(torch.cat(parts), dim=-1)


def _pooled(encoder: PreTrainedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    return mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"])


@dataclass(frozen=True)
class DualEncoderConfig(RunConfig):
    """Fine-tuning of a dual encoder with in-batch negatives."""

    batch_size: int = 64
    learning_rate: float = 3e-4
    temperature: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the other pairs of a batch are the negatives")
        check_positive_numbers(self, "temperature")


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
        generator = step_generator(config.seed, step)
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

    train(encoder, loss_fn, batch_fn, config.training(progress=progress))
    return encoder.eval()
