"""Attention from scratch equals PyTorch's on random inputs (tolerance 1e-5 in float32, 1e-12 in float64)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from xlm_course.models import EncoderBlock, MultiHeadAttention, scaled_dot_product_attention

ATOL32, ATOL64 = 1e-5, 1e-12


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 4, 16]), st.integers(0, 10**6))
def test_sdpa_matches_torch(batch, length_q, length_k, d_k, seed):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, length_q, d_k, generator=generator, dtype=torch.float64)
    k = torch.randn(batch, length_k, d_k, generator=generator, dtype=torch.float64)
    v = torch.randn(batch, length_k, 5, generator=generator, dtype=torch.float64)
    mask = torch.rand(length_q, length_k, generator=generator) > 0.3
    mask[:, 0] = True  # every query may look at something
    ours, weights = scaled_dot_product_attention(q, k, v, mask)
    reference = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, reference, atol=ATOL64, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, length_q, dtype=torch.float64))
    assert (weights[..., ~mask] == 0).all()


@pytest.mark.parametrize("heads", [1, 2, 4, 8])
def test_multi_head_matches_nn_multiheadattention(heads):
    torch.manual_seed(heads)
    reference = nn.MultiheadAttention(32, heads, batch_first=True).eval()
    ours = MultiHeadAttention(32, heads).load_from_torch(reference).eval()
    x, memory = torch.randn(3, 6, 32), torch.randn(3, 9, 32)
    padding = torch.zeros(3, 9, dtype=torch.bool)
    padding[1, 6:] = True
    expected, expected_weights = reference(x, memory, memory, key_padding_mask=padding,
                                           average_attn_weights=False)
    got, weights = ours(x, memory, memory, key_padding_mask=padding)
    torch.testing.assert_close(got, expected, atol=ATOL32, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=ATOL32, rtol=0)
    assert (weights[1, :, :, 6:] == 0).all()


def test_causal_mask_matches_torch():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ours = MultiHeadAttention(16, 4).load_from_torch(reference).eval()
    x = torch.randn(2, 5, 16)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    expected, _ = reference(x, x, x, attn_mask=~causal)  # nn.MultiheadAttention: True = masked out
    got, weights = ours(x, attn_mask=causal)
    torch.testing.assert_close(got, expected, atol=ATOL32, rtol=0)
    assert torch.all(weights.triu(1) == 0)


def test_encoder_block_shapes_and_padding_invariance():
    torch.manual_seed(0)
    block = EncoderBlock(32, 4, dropout=0.0).eval()
    x = torch.randn(1, 5, 32)
    padded = torch.cat([x, torch.randn(1, 3, 32)], dim=1)
    mask = torch.tensor([[False] * 5 + [True] * 3])
    y, weights = block(x)
    y_padded, _ = block(padded, key_padding_mask=mask)
    assert y.shape == x.shape and weights.shape == (1, 4, 5, 5)
    torch.testing.assert_close(y_padded[:, :5], y, atol=ATOL32, rtol=0)  # padding changes nothing real


def test_bad_shapes_and_masks():
    q = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="same last dimension"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 5), torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="same length"):
        scaled_dot_product_attention(q, torch.randn(2, 3, 4), torch.randn(2, 2, 4))
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3))
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="heads"):
        MultiHeadAttention(16, 4).load_from_torch(nn.MultiheadAttention(16, 2))
