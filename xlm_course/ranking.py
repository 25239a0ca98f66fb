"""Ranking metrics and retrieval tables (chapters 3, 6): how well scores put the right items first.

The scores come from elsewhere (the cosine of two embeddings, :func:`xlm_course.models.source.embed`); this
module only measures the ranking they give. Metrics, for queries each with a set of relevant pool items:

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

import pandas as pd
import torch
import torch.nn.functional as F


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
