"""Labelled multilingual tasks, split by concept (chapters 3.4, 6.4): :class:`ClassificationTask` and the emoji
category and sentiment tasks built from real CLDR names and the Emoji Sentiment Ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import datasets
import numpy as np
import pandas as pd

from ..data import DOWNSTREAM_LANGUAGES, load_emoji_names, split_by_concept


@dataclass(frozen=True)
class ClassificationTask:
    """Labelled texts in several languages, split by concept: columns concept, lang, text, label (an int)."""

    name: str
    splits: datasets.DatasetDict
    labels: tuple[str, ...]
    _frames: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def frame(self, split: str, languages: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows of ``split`` (in ``languages``) as a DataFrame: what evaluation reads, many times over."""
        if split not in self._frames:
            self._check(split, languages)
            self._frames[split] = self.splits[split].select_columns(["lang", "text", "label"]).to_pandas()
        self._check(split, languages)
        frame = self._frames[split]
        return frame if languages is None else frame[frame["lang"].isin(list(languages))]

    def _check(self, split: str, languages: Sequence[str] | None) -> None:
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; the splits are {list(self.splits)}")
        if isinstance(languages, str):
            raise TypeError(f"languages must be a list such as ['fr'], not the string {languages!r}")
        unknown = sorted(set(languages or ()) - set(self.languages))
        if unknown:
            raise ValueError(f"{self.name} has no {unknown}; its languages are {list(self.languages)}")

    @property
    def languages(self) -> tuple[str, ...]:
        if "languages" not in self._frames:  # computed once: reading a datasets column row by row is slow
            self._frames["languages"] = tuple(dict.fromkeys(self.splits["train"].data.column("lang").to_pylist()))
        return self._frames["languages"]

    def rows(self, split: str, languages: Sequence[str] | None = None) -> datasets.Dataset:
        """The rows of ``split`` in ``languages`` (all by default)."""
        self._check(split, languages)
        if languages is None:
            return self.splits[split]
        wanted = set(languages)
        return self.splits[split].filter(lambda lang: lang in wanted, input_columns="lang")

    def few_shot(self, lang: str, count: int, seed: int = 0) -> datasets.Dataset:
        """``count`` training rows in ``lang``, drawn with ``seed`` (a fixed draw: the same rows every run)."""
        rows = self.rows("train", [lang])
        if not 0 <= count <= len(rows):
            raise ValueError(f"count must lie in [0, {len(rows)}] for {lang}, got {count!r}")
        return rows.shuffle(seed=seed).select(range(count))

    def majority_baseline(self, split: str = "test") -> pd.Series:
        """Per language, the accuracy of always answering the most frequent training label."""
        majority = np.bincount(self.frame("train")["label"], minlength=len(self.labels)).argmax()
        frame = self.frame(split)
        return (frame["label"] == majority).groupby(frame["lang"], sort=False).mean().rename("majority")


def _task(name: str, dataset: datasets.Dataset, label_column: str, seed: int) -> ClassificationTask:
    labels = tuple(sorted(set(dataset[label_column])))
    index = {label: i for i, label in enumerate(labels)}
    dataset = dataset.map(lambda value: {"label": index[value]}, input_columns=label_column)
    dataset = dataset.select_columns(["concept", "lang", "text", "label"])
    return ClassificationTask(name, split_by_concept(dataset, seed=seed), labels)


@cache
def emoji_category_task(languages: tuple[str, ...] = DOWNSTREAM_LANGUAGES, seed: int = 0) -> ClassificationTask:
    """Emoji name → Unicode group (9 classes), split by emoji as in pretraining, so test emoji are unseen."""
    return _task("emoji category", load_emoji_names(list(languages)), "category", seed)


@cache
def emoji_sentiment_task(languages: tuple[str, ...] = DOWNSTREAM_LANGUAGES, seed: int = 0) -> ClassificationTask:
    """Emoji name → negative / neutral / positive (Emoji Sentiment Ranking), for the emoji it covers."""
    names = load_emoji_names(list(languages)).filter(lambda label: label is not None, input_columns="sentiment")
    return _task("emoji sentiment", names, "sentiment", seed)

