"""Language sampling with an exponent α, as in XLM (Lample & Conneau 2019, eq. 1; chapter 1).

With n_i sentences in language i, p_i = n_i / Σ_j n_j. Sampling languages with

    q_i = p_i^α / Σ_j p_j^α,   0 < α ≤ 1,

keeps the empirical distribution at α = 1 and flattens it as α falls (α → 0 is uniform). XLM used α = 0.5,
XLM-R α = 0.3: low-resource languages are seen more often, high-resource ones a little less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from ..validation import check_positive_int


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1] (1 keeps the data's distribution, smaller flattens it), "
                         f"got {alpha!r}")
    return float(alpha)


def sampling_probabilities(counts: Mapping[str, int], alpha: float) -> dict[str, float]:
    """q_i = p_i^α / Σ_j p_j^α for each language of ``counts`` (XLM eq. 1)."""
    alpha = _check_alpha(alpha)
    if not counts:
        raise ValueError("counts is empty: give at least one language and its number of examples")
    bad = {lang: n for lang, n in counts.items() if isinstance(n, bool) or not isinstance(n, (int, np.integer))
           or n <= 0}
    if bad:
        raise ValueError(f"counts must be positive integers; these are not: {bad}")
    languages = list(counts)
    p = np.array([counts[lang] for lang in languages], dtype=np.float64)
    p /= p.sum()
    # computed in log space: p_i^α for tiny p_i and small α stays accurate
    log_q = alpha * np.log(p)
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    return dict(zip(languages, q.tolist(), strict=True))


class LanguageBalancedSampler(Sampler[int]):
    """Sample row indices so that languages follow q_i (XLM eq. 1) and rows are uniform within a language.

    Pass it to ``torch.utils.data.DataLoader(dataset, sampler=...)``. Sampling is with replacement, so a
    low-resource language is repeated rather than run out. ``num_samples`` defaults to the dataset length.
    """

    def __init__(self, languages: Sequence[str], alpha: float, num_samples: int | None = None,
                 generator: torch.Generator | None = None, seed: int = 0) -> None:
        if len(languages) == 0:
            raise ValueError("languages is empty: give the language of every row of the dataset")
        self.alpha = _check_alpha(alpha)
        self.num_samples = len(languages) if num_samples is None else num_samples
        check_positive_int("num_samples", self.num_samples)
        rows: dict[str, list[int]] = {}
        for index, lang in enumerate(languages):
            rows.setdefault(lang, []).append(index)
        self.rows = {lang: torch.tensor(indices) for lang, indices in rows.items()}
        self.probabilities = sampling_probabilities(Counter(languages), self.alpha)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.num_samples

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` row indices: a language by q_i, then a row of it uniformly (with replacement)."""
        languages = list(self.rows)
        weights = torch.tensor([self.probabilities[lang] for lang in languages], dtype=torch.float64)
        choice = torch.multinomial(weights, count, replacement=True, generator=generator)
        indices = torch.empty(count, dtype=torch.long)
        for language_index, lang in enumerate(languages):
            where = (choice == language_index).nonzero().flatten()
            pool = self.rows[lang]
            indices[where] = pool[torch.randint(len(pool), (len(where),), generator=generator)]
        return indices

    def __iter__(self) -> Iterator[int]:
        yield from self.draw(self.num_samples, self.generator).tolist()
