"""Ranking metrics, embeddings and the dual encoder of chapter 6."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.applications.qa import DualEncoderConfig, train_dual_encoder
from xlm_course.models.source import embed
from xlm_course.ranking import ranking_metrics


def test_metrics_of_a_hand_worked_example():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3],   # ranking 0, 2, 3, 1: relevant {2} at rank 2
                           [0.2, 0.8, 0.1, 0.7]])  # ranking 1, 3, 0, 2: relevant {1, 0} at ranks 1 and 3
    metrics = ranking_metrics(scores, [{2}, {1, 0}], ks=(1, 2))
    assert metrics["accuracy@1"] == 0.5
    assert metrics["MRR"] == pytest.approx((1 / 2 + 1) / 2)
    assert metrics["recall@1"] == pytest.approx((0 + 1 / 2) / 2)
    assert metrics["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    assert metrics["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 6), st.integers(2, 9), st.integers(0, 10**6))
def test_metrics_lie_in_the_unit_interval_and_a_perfect_ranking_scores_one(queries, pool, seed):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.rand(queries, pool, generator=generator)
    relevant = [{int(torch.randint(pool, (1,), generator=generator))} for _ in range(queries)]
    metrics = ranking_metrics(scores, relevant, ks=(1, 3))
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["MRR"] >= metrics["accuracy@1"]
    perfect = scores.clone()
    for row, items in enumerate(relevant):
        perfect[row, list(items)] = 2.0
    best = ranking_metrics(perfect, relevant, ks=(1, 3))
    assert best["accuracy@1"] == best["MRR"] == best["recall@1"] == best["recall@3"] == 1.0


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="at least one relevant"):
        ranking_metrics(torch.zeros(1, 3), [set()])
    with pytest.raises(ValueError, match="pool indices"):
        ranking_metrics(torch.zeros(1, 3), [{3}])
    with pytest.raises(ValueError, match="one relevant set per query"):
        ranking_metrics(torch.zeros(2, 3), [{0}])


def test_embeddings_are_unit_length_and_checked(tiny_source):
    encoder = tiny_source.encoder()
    vectors = embed(encoder, tiny_source, ["dog", "chien", "Hund"], ["en", "fr", "de"], batch_size=2)
    assert vectors.shape == (3, 16)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match="one language per text"):
        embed(encoder, tiny_source, ["dog"], ["en", "fr"])


def test_dual_encoder_training_is_deterministic_and_needs_enough_groups(tiny_source):
    queries = [f"question {i}" for i in range(12)]
    answers = [f"answer {i}" for i in range(12)]
    languages = ["en"] * 12
    groups = [str(i // 2) for i in range(12)]  # six groups of two
    config = DualEncoderConfig(steps=3, batch_size=4, warmup_steps=1)
    first = train_dual_encoder(tiny_source, queries, languages, answers, languages, groups, config)
    again = train_dual_encoder(tiny_source, queries, languages, answers, languages, groups, config)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert not torch.equal(first.embeddings.word_embeddings.weight,
                           tiny_source.encoder().embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="cannot fill a batch"):
        train_dual_encoder(tiny_source, queries, languages, answers, languages, groups,
                           DualEncoderConfig(steps=1, batch_size=8, warmup_steps=0))
    with pytest.raises(ValueError, match="same length"):
        train_dual_encoder(tiny_source, queries, languages, answers[:-1], languages, groups, config)


def test_dual_encoder_config_rejects_bad_values():
    with pytest.raises(ValueError, match="at least 2"):
        DualEncoderConfig(batch_size=1)
    with pytest.raises(ValueError, match="temperature"):
        DualEncoderConfig(temperature=0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        DualEncoderConfig(steps=0, warmup_steps=0)
