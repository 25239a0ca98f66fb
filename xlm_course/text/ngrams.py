"""Character n-gram vectors: a model-free, lexical representation of text (chapters 2 and 6).

Each text becomes the bag of its character n-grams (with ``<`` and ``>`` marking word boundaries, as in
fastText), hashed into ``dim`` buckets and L2-normalised. Two texts are close when they share spelling:
cognates ("address"/"adresse"), names, numbers. That is exactly what a shared subword vocabulary gives a
multilingual model for free, and what it must go beyond to align languages that share no script.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch

from ..validation import check_positive_int


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """The character n-grams of each word of ``text``, padded with ``<`` and ``>``."""
    check_positive_int("n", n)
    grams = []
    for word in text.casefold().split():
        padded = f"<{word}>"
        grams += [padded[i:i + n] for i in range(max(1, len(padded) - n + 1))]
    return grams


def char_ngram_vectors(texts: Sequence[str], n: int = 3, dim: int = 4096) -> torch.Tensor:
    """A (len(texts), dim) float tensor of hashed, L2-normalised n-gram counts (zero rows for empty texts)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    check_positive_int("dim", dim)
    vectors = torch.zeros(len(texts), dim)
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, found {type(text).__name__}: {text!r}")
        for gram in char_ngrams(text, n):
            vectors[row, zlib.crc32(gram.encode()) % dim] += 1.0  # crc32: the same buckets in every run
    return torch.nn.functional.normalize(vectors, dim=1)
