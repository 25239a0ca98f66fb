import pytest
import torch

from xlm_course.ranking import retrieval_table, top1_accuracy


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
