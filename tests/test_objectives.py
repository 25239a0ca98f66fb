"""The objectives of chapter 4: cross-entropy and its gradient, MLM, InfoNCE, the joint objective."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_course.objectives import (
    cross_entropy,
    info_nce,
    joint_objective,
    masked_lm_loss,
    mlm_loss,
    numerical_gradient,
)


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 8), st.integers(2, 12), st.integers(0, 10**6))
def test_cross_entropy_matches_torch_and_its_gradient_is_p_minus_y(n, v, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(n, v, generator=generator, dtype=torch.float64)).requires_grad_()
    targets = torch.randint(v, (n,), generator=generator)
    loss = cross_entropy(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets))
    (gradient,) = torch.autograd.grad(loss, logits)
    expected = (torch.softmax(logits, -1) - F.one_hot(targets, v)) / n  # the mean divides by n
    torch.testing.assert_close(gradient, expected.detach())


def test_cross_entropy_gradcheck_and_ignore_index():
    logits = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([1, -100, 3, 6, -100])
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, targets), (logits,))
    torch.testing.assert_close(cross_entropy(logits, targets), F.cross_entropy(logits, targets))
    with pytest.raises(ValueError, match="nothing to compute"):
        cross_entropy(logits, torch.full((5,), -100))
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        cross_entropy(logits[None], targets)


def test_mlm_loss_averages_over_the_masked_set_only():
    logits = torch.randn(2, 4, 9)
    labels = torch.full((2, 4), -100)
    labels[0, 1], labels[1, 3] = 5, 2
    expected = (F.cross_entropy(logits[0, 1:2], labels[0, 1:2]) + F.cross_entropy(logits[1, 3:4], labels[1, 3:4])) / 2
    torch.testing.assert_close(mlm_loss(logits, labels), expected)


def test_info_nce_is_low_for_aligned_pairs_and_high_for_shuffled():
    torch.manual_seed(0)
    a = torch.randn(16, 32)
    aligned = info_nce(a, a + 0.01 * torch.randn(16, 32))
    shuffled = info_nce(a, a[torch.randperm(16)])
    assert aligned < 0.01 and shuffled > 3


def test_info_nce_at_uniform_scores_is_log_n():
    a = torch.ones(8, 4)
    torch.testing.assert_close(info_nce(a, a), torch.log(torch.tensor(8.0)))


@settings(deadline=None, max_examples=30)
@given(st.integers(2, 9), st.integers(2, 8), st.floats(0.02, 2.0), st.integers(0, 10**6))
def test_symmetric_info_nce_is_the_same_loss_either_way_round(n, d, temperature, seed):
    # so (info_nce(a, b) + info_nce(b, a)) / 2 computes one loss twice (3.6 did)
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, d, generator=generator), torch.randn(n, d, generator=generator)
    torch.testing.assert_close(info_nce(a, b, temperature), info_nce(b, a, temperature))
    one_way = info_nce(a, b, temperature, symmetric=False), info_nce(b, a, temperature, symmetric=False)
    torch.testing.assert_close(info_nce(a, b, temperature), (one_way[0] + one_way[1]) / 2)


def test_info_nce_gradcheck():
    a = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: info_nce(x, y, 0.1), (a, b))


def test_info_nce_bad_input():
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        info_nce(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.randn(4, 3), torch.randn(4, 3), temperature=0)


def test_joint_objective():
    mlm, tlm, cross = torch.tensor(2.0), torch.tensor(3.0), torch.tensor(4.0)
    assert joint_objective(mlm, tlm, cross, 0.5) == 2 + 3 + 2
    assert joint_objective(mlm) == 2 and joint_objective(mlm, cross=cross, lam=0.0) == 2
    with pytest.raises(ValueError, match="non-negative"):
        joint_objective(mlm, tlm, cross, -1)


def _tiny_masked_lm() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    from xlm_course.models.encoder import build_encoder, encoder_config
    from xlm_course.runtime import PROFILES

    config = encoder_config(50, ["en", "fr"], PROFILES["ci"], hidden_size=16, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=32, max_position_embeddings=20)
    model = build_encoder(config, seed=0).eval()
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 50, (3, 9), generator=generator)
    labels = torch.full_like(input_ids, -100)
    labels[:, 2] = input_ids[:, 2]
    labels[0, 5] = input_ids[0, 5]
    return model, {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}


def test_masked_lm_loss_equals_the_full_vocabulary_loss():
    model, inputs = _tiny_masked_lm()
    torch.testing.assert_close(masked_lm_loss(model, inputs), model(**inputs).loss)
    assert "labels" in inputs  # the caller's batch is left as it was


def test_masked_lm_loss_with_nothing_masked_is_a_differentiable_zero_and_labels_are_required():
    model, inputs = _tiny_masked_lm()
    inputs["labels"] = torch.full_like(inputs["input_ids"], -100)
    loss = masked_lm_loss(model, inputs)
    assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ValueError, match="need 'labels'"):
        masked_lm_loss(model, {"input_ids": inputs["input_ids"]})


def test_matches_analytic_gradients():
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    torch.testing.assert_close(numerical_gradient(lambda v: (v**3).sum(), x), 3 * x**2)
    torch.testing.assert_close(numerical_gradient(lambda v: torch.logsumexp(v, 0), x), torch.softmax(x, 0))


def test_leaves_the_point_unchanged_and_keeps_shape():
    x = torch.randn(2, 3, dtype=torch.float64)
    before = x.clone()
    assert numerical_gradient(lambda v: v.sum(), x).shape == (2, 3) and torch.equal(x, before)


def test_bad_input():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: v.sum(), torch.ones(2))
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(lambda v: v.sum(), torch.ones(2, dtype=torch.float64), eps=0)
