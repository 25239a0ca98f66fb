import pytest
import torch

from xlm_course.objectives import numerical_gradient


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
