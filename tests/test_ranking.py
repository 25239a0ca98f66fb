"""Ranking metrics, embeddings and the dual encoder of chapter 6."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.ranking import ranking_metrics, retrieval_table, top1_accuracy


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


def test_top1_accuracy():
    x = torch.eye(5)
    assert top1_accuracy(x, x) == 1.0
    assert top1_accuracy(x, x.roll(1, dims=0)) == 0.0
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        top1_accuracy(torch.eye(3), torch.eye(4))


def test_retrieval_table_with_a_perfect_and_a_blind_embedder():
    pairs = {"fr": (["a", "b", "c", "d"], ["A", "B", "C", "D"])}

    def perfect(texts, lang):
        return torch.nn.functional.one_hot(torch.tensor([ord(t.lower()) - 97 for t in texts]), 4).float()

    def blind(texts, lang):
        return torch.ones(len(texts), 4)

    good, bad = retrieval_table(perfect, pairs), retrieval_table(blind, pairs)
    assert good.loc["fr", "mean"] == 1.0 and good.loc["fr", "chance"] == 0.25
    assert bad.loc["fr", "mean"] <= 0.25
    with pytest.raises(ValueError, match="as many translations"):
        retrieval_table(perfect, {"fr": (["a"], ["A", "B"])})
