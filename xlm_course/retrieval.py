"""Cross-lingual sentence retrieval, as in Tatoeba / XTREME (chapters 3 and 6).

For N held-out messages and their translations, embed both sides, and for each English sentence look for its
translation among all N candidates by cosine similarity (en → xx), and the other way round (xx → en). Top-1
accuracy is the share found at rank 1; a model that knows nothing scores about 1/N.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F


def top1_accuracy(queries: torch.Tensor, candidates: torch.Tensor) -> float:
    """Share of rows i whose nearest candidate (cosine) is candidate i."""
    if queries.shape != candidates.shape or queries.ndim != 2 or len(queries) == 0:
        raise ValueError(f"queries and candidates must both be (N, d) with N > 0, got {tuple(queries.shape)} and "
                         f"{tuple(candidates.shape)}")
    similarity = F.normalize(queries.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T
    return (similarity.argmax(dim=1) == torch.arange(len(queries))).float().mean().item()


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
