"""Deterministic train/dev/test splits *by concept* (chapter 1, "no leakage").

A concept is what the rows of all languages share: an emoji, a UI message id, a dialogue group, a UDHR
passage. Splitting rows at random would put "Save" in English in training and "保存" in test: the model would
be tested on a translation of something it trained on. Here the split of a row depends only on its concept
(a keyed hash of it), so every language of a concept lands in the same split, and the same seed always gives
the same split whatever the languages loaded or the order of the rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import datasets

SPLIT_NAMES = ("train", "dev", "test")


def concept_split(concept: str, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> str:
    """The split (``train``, ``dev`` or ``test``) of one concept: a pure function of the concept and seed."""
    digest = hashlib.blake2b(f"{seed}\x00{concept}".encode(), digest_size=8).digest()
    position = int.from_bytes(digest, "big") / 2**64
    cumulative = 0.0
    for name, fraction in zip(SPLIT_NAMES, fractions, strict=True):
        cumulative += fraction
        if position < cumulative:
            return name
    return SPLIT_NAMES[-1]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise ValueError(f"fractions needs three values (train, dev, test), got {tuple(fractions)!r}")
    if any(not 0.0 <= value <= 1.0 for value in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must lie in [0, 1] and sum to 1, got {tuple(fractions)!r}")
    return tuple(float(value) for value in fractions)  # type: ignore[return-value]


def split_by_concept(
    dataset: datasets.Dataset,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    concept_column: str = "concept",
) -> datasets.DatasetDict:
    """Split ``dataset`` into train/dev/test so that no concept appears in two splits, in any language."""
    fractions = _check_fractions(fractions)
    if concept_column not in dataset.column_names:
        raise ValueError(f"dataset has no column {concept_column!r}; its columns are {dataset.column_names}")
    assignment = [concept_split(concept, fractions, seed) for concept in dataset[concept_column]]
    parts = {}
    for name in SPLIT_NAMES:
        indices = [index for index, split in enumerate(assignment) if split == name]
        part = dataset.select(indices)
        part.info.update(dataset.info)
        parts[name] = part
    return datasets.DatasetDict(parts)
