"""Language sampling with exponent α (XLM eq. 1): properties that hold for every input."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from xlm_course.data import LanguageBalancedSampler, sampling_probabilities

counts_strategy = st.dictionaries(st.sampled_from(["en", "zh-Hans", "ar", "hi", "sw", "fr", "ja", "yo"]),
                                  st.integers(1, 10**7), min_size=1)
alpha_strategy = st.floats(0.01, 1.0)


@given(counts_strategy, alpha_strategy)
def test_probabilities_are_a_distribution(counts, alpha):
    q = sampling_probabilities(counts, alpha)
    assert set(q) == set(counts)
    assert math.isclose(sum(q.values()), 1.0, rel_tol=1e-9)
    assert all(value > 0 for value in q.values())


@given(counts_strategy)
def test_alpha_one_keeps_the_empirical_distribution(counts):
    total = sum(counts.values())
    q = sampling_probabilities(counts, 1.0)
    assert all(math.isclose(q[lang], n / total, rel_tol=1e-9) for lang, n in counts.items())


@given(counts_strategy, alpha_strategy)
def test_order_is_kept_and_rare_languages_gain(counts, alpha):
    q = sampling_probabilities(counts, alpha)
    p = sampling_probabilities(counts, 1.0)
    ranked = sorted(counts, key=counts.get)
    assert all(q[a] <= q[b] + 1e-12 for a, b in zip(ranked, ranked[1:], strict=False))  # monotone in n_i
    rarest, commonest = ranked[0], ranked[-1]
    assert q[rarest] >= p[rarest] - 1e-12 and q[commonest] <= p[commonest] + 1e-12


@given(counts_strategy, st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_smaller_alpha_is_flatter(counts, a, b):
    low, high = sorted((a, b))

    def entropy(q):
        return -sum(v * math.log(v) for v in q.values())

    assert entropy(sampling_probabilities(counts, low)) >= entropy(sampling_probabilities(counts, high)) - 1e-9


@pytest.mark.parametrize("alpha", [0, -0.5, 1.01, 2, float("nan"), "0.5", True])
def test_alpha_outside_unit_interval_is_an_error(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        sampling_probabilities({"en": 10}, alpha)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        LanguageBalancedSampler(["en"], alpha)


@pytest.mark.parametrize("counts", [{}, {"en": 0}, {"en": -3}, {"en": 2.5}])
def test_bad_counts(counts):
    with pytest.raises(ValueError, match="counts"):
        sampling_probabilities(counts, 0.5)


@settings(deadline=None, max_examples=25)
@given(st.lists(st.sampled_from(["en", "sw", "hi"]), min_size=1, max_size=200), alpha_strategy)
def test_sampler_yields_valid_indices(languages, alpha):
    sampler = LanguageBalancedSampler(languages, alpha, num_samples=50, seed=1)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 50 and all(0 <= i < len(languages) for i in indices)


def test_sampler_frequencies_match_q_and_work_with_a_dataloader():
    languages = ["en"] * 9000 + ["hi"] * 900 + ["sw"] * 100
    sampler = LanguageBalancedSampler(languages, alpha=0.3, num_samples=20000, seed=0)
    q = sampling_probabilities(Counter(languages), 0.3)
    drawn = Counter(languages[i] for batch in DataLoader(range(len(languages)), batch_size=500, sampler=sampler)
                    for i in batch.tolist())
    for lang, share in q.items():
        assert abs(drawn[lang] / 20000 - share) < 0.015
    assert drawn["sw"] / 20000 > 10 * 100 / 10000  # far above its 1% share of the data


def test_sampler_is_seeded():
    languages = ["en", "sw"] * 50
    assert list(LanguageBalancedSampler(languages, 0.5, seed=3)) == list(LanguageBalancedSampler(languages, 0.5,
                                                                                                   seed=3))
    generator = torch.Generator().manual_seed(3)
    assert len(list(LanguageBalancedSampler(languages, 0.5, generator=generator))) == 100


def test_sampler_bad_input():
    with pytest.raises(ValueError, match="languages is empty"):
        LanguageBalancedSampler([], 0.5)
    with pytest.raises(ValueError, match="num_samples"):
        LanguageBalancedSampler(["en"], 0.5, num_samples=0)


def test_log_space_is_exact_for_extreme_imbalance():
    q = sampling_probabilities({"en": 10**9, "yo": 1}, 0.1)
    p_en, p_yo = 10**9 / (10**9 + 1), 1 / (10**9 + 1)
    expected = p_yo**0.1 / (p_en**0.1 + p_yo**0.1)
    assert np.isclose(q["yo"], expected, rtol=1e-12)
