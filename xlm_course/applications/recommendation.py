"""Cross-lingual content-based recommendation (chapter 6.5).

Users are simulated from real data: a user has liked a few emoji of one Unicode group, seen under their English
names; the catalogue holds the held-out emoji, described in another language. A recommender embeds the
history (the mean of its items' vectors) and ranks the catalogue by cosine similarity; an item is relevant when
it belongs to the group the user likes. Nothing is trained here: the ranking is only as cross-lingual as the
representation — a lexical one (character n-grams) or an encoder's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..ranking import ranking_metrics
from ..transfer import ClassificationTask
from ..validation import check_positive_int

Embedder = Callable[[Sequence[str], str], torch.Tensor]


@dataclass(frozen=True)
class User:
    """A simulated user: the English names of the items they liked, and the group those items share."""

    history: tuple[str, ...]
    label: int


def simulate_users(task: ClassificationTask, per_label: int = 20, history_size: int = 5, seed: int = 0,
                   language: str = "en") -> list[User]:
    """``per_label`` users per label, each with ``history_size`` training items of that label (fixed draw)."""
    check_positive_int("per_label", per_label)
    check_positive_int("history_size", history_size)
    train = task.frame("train", [language])
    generator = torch.Generator().manual_seed(seed)
    users = []
    for label in range(len(task.labels)):
        names = list(train.loc[train["label"] == label, "text"])
        if len(names) < history_size:
            raise ValueError(f"label {task.labels[label]!r} has {len(names)} training items, fewer than "
                             f"history_size={history_size}")
        for _ in range(per_label):
            chosen = torch.randperm(len(names), generator=generator)[:history_size].tolist()
            users.append(User(tuple(names[i] for i in chosen), label))
    return users


def recommendation_table(embedders: Mapping[str, Embedder], task: ClassificationTask, users: Sequence[User],
                         languages: Sequence[str], history_language: str = "en",
                         ks: Sequence[int] = (10,)) -> pd.DataFrame:
    """MRR, precision@k and recall@k of each embedder, recommending held-out (test) items in each language."""
    rows = []
    for name, embed in embedders.items():
        histories = torch.stack([embed(list(user.history), history_language).mean(0) for user in users])
        histories = F.normalize(histories, dim=-1)
        for lang in languages:
            catalogue = task.frame("test", [lang])
            items = F.normalize(embed(list(catalogue["text"]), lang), dim=-1)
            labels = list(catalogue["label"])
            relevant = [{i for i, label in enumerate(labels) if label == user.label} for user in users]
            metrics = ranking_metrics(histories @ items.T, relevant, ks)
            rows.append({"method": name, "language": lang, "items": len(labels),
                         **{key: value for key, value in metrics.items() if key != "accuracy@1"}})
    return pd.DataFrame(rows)
