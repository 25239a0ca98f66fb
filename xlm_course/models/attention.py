"""Attention from scratch (chapter 2), checked against PyTorch in ``tests/models/test_attention.py``.

Scaled dot-product attention (Vaswani et al. 2017, eq. 1):

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V

where M is 0 where a query may look and −∞ where it may not. Multi-head attention runs h such maps on
learned projections of d_model / h dimensions each and mixes their outputs with W_O:

    MultiHead(X_q, X_kv) = Concat(head_1, ..., head_h) W_O,  head_i = Attention(X_q W_Q^i, X_kv W_K^i, X_kv W_V^i)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                                 dropout: float = 0.0, training: bool = False) -> tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ / √d_k + M) V; returns the output and the attention weights.

    Shapes: query (..., L_q, d_k), key (..., L_k, d_k), value (..., L_k, d_v). ``mask`` is boolean,
    broadcastable to (..., L_q, L_k), ``True`` where attention is *allowed* (PyTorch's convention for
    ``F.scaled_dot_product_attention``).
    """
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query and key need the same last dimension d_k, got {query.shape[-1]} and "
                         f"{key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value need the same length L_k, got {key.shape[-2]} and {value.shape[-2]}")
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if dropout > 0.0 and training:
        weights = nn.functional.dropout(weights, p=dropout)
    return weights @ value, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate Q, K, V and output projections (batch-first).

    :meth:`load_from_torch` copies the weights of an ``nn.MultiheadAttention`` so the two can be compared.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.d_model, self.num_heads, self.d_head, self.dropout = d_model, num_heads, d_model // num_heads, dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split(self, x: Tensor) -> Tensor:  # (B, L, d_model) -> (B, h, L, d_head)
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.d_head).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return the output (B, L_q, d_model) and the weights per head (B, h, L_q, L_k).

        ``key_padding_mask`` (B, L_k) is ``True`` at padding (``nn.MultiheadAttention``'s convention);
        ``attn_mask`` (L_q, L_k) is ``True`` where attention is allowed.
        """
        key = query if key is None else key
        value = key if value is None else value
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(key)), self._split(self.v_proj(value))
        allowed = None
        if key_padding_mask is not None:
            allowed = ~key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            allowed = attn_mask if allowed is None else allowed & attn_mask
        out, weights = scaled_dot_product_attention(q, k, v, allowed, self.dropout, self.training)
        batch, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, self.d_model)), weights

    @torch.no_grad()
    def load_from_torch(self, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of ``nn.MultiheadAttention`` (its packed ``in_proj_weight`` is [W_Q; W_K; W_V])."""
        if reference.embed_dim != self.d_model or reference.num_heads != self.num_heads:
            raise ValueError(f"reference has d_model={reference.embed_dim}, heads={reference.num_heads}; this "
                             f"module has d_model={self.d_model}, heads={self.num_heads}")
        for projection, weight in zip((self.q_proj, self.k_proj, self.v_proj),
                                      reference.in_proj_weight.chunk(3), strict=True):
            projection.weight.copy_(weight)
        if reference.in_proj_bias is not None:
            for projection, bias in zip((self.q_proj, self.k_proj, self.v_proj),
                                        reference.in_proj_bias.chunk(3), strict=True):
                projection.bias.copy_(bias)
        self.out_proj.load_state_dict(reference.out_proj.state_dict())
        return self


class EncoderBlock(nn.Module):
    """One Transformer encoder layer, post-norm as in BERT and XLM-R:

    h = LayerNorm(x + MHA(x)),  y = LayerNorm(h + FFN(h)),  FFN(h) = W_2 GELU(W_1 h).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff or 4 * d_model), nn.GELU(),
                                          nn.Linear(d_ff or 4 * d_model, d_model))
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        attended, weights = self.attention(x, key_padding_mask=key_padding_mask)
        h = self.norm1(x + self.dropout(attended))
        return self.norm2(h + self.dropout(self.feed_forward(h))), weights
