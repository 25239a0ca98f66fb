"""Encoders for pictures and sound, and four ways to fuse them with text (chapters 3.6–3.7).

The text side is a sentence vector from the jointly pretrained encoder (frozen). The other modality is encoded
into a short sequence of *tokens*: the cells of a CNN's last feature map for an image, time steps for a
spectrogram. Every fusion module takes ``(text, tokens)`` — (B, D_text) and (B, P, D) — and returns logits:

* :class:`EarlyFusion` concatenates the text vector and the pooled tokens, then an MLP: one representation,
  learned jointly;
* :class:`LateFusion` gives each modality its own classifier and adds their log-probabilities with learned
  weights (a weighted product of experts): each modality decides alone, the decisions are combined;
* :class:`CrossAttentionFusion` lets the text vector *query* the tokens (multi-head attention), so the text
  chooses which image regions or time steps matter, then classifies [text; attended; pooled];
* :class:`GatedFusion` (a gated multimodal unit, Arevalo et al. 2017) computes per-feature gates
  z = σ(W[t; v]) and mixes z ⊙ tanh(W_t t) + (1 − z) ⊙ tanh(W_v v): how much each modality counts is decided per
  example.

:class:`TextOnly` and :class:`TokensOnly` are the single-modality baselines with the same interface.
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_positive_int

FUSIONS: tuple[str, ...] = ("early", "late", "cross-attention", "gated")


def _conv_blocks(in_channels: int, channels: tuple[int, ...]) -> nn.Sequential:
    """conv 3×3 → BatchNorm → GELU → max-pool 2×2, once per width: each block halves both spatial sides."""
    blocks, previous = [], in_channels
    for width in channels:
        blocks += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.GELU(), nn.MaxPool2d(2)]
        previous = width
    return nn.Sequential(*blocks)


class ImageEncoder(nn.Module):
    """Three conv–GELU–pool blocks: a (B, 3, S, S) image becomes (B, (S/8)², dim) tokens, one per cell."""

    def __init__(self, dim: int = 64, channels: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        self.features = _conv_blocks(3, channels)
        self.project = nn.Linear(channels[-1], dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (batch, 3, height, width), got {tuple(images.shape)}")
        cells = self.features(images).flatten(2).transpose(1, 2)  # (B, cells, channels)
        return self.project(cells)


class AudioEncoder(nn.Module):
    """Conv blocks over a (B, n_mels, frames) log-mel spectrogram; the frequency axis is pooled away, leaving
    (B, frames / 8, dim) tokens, one per stretch of time."""

    def __init__(self, n_mels: int = 40, dim: int = 64, channels: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_positive_int("n_mels", n_mels)
        self.features = _conv_blocks(1, channels)
        self.project = nn.Linear(channels[-1], dim)
        self.n_mels = n_mels

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        if spectrograms.ndim != 3 or spectrograms.shape[1] != self.n_mels:
            raise ValueError(f"spectrograms must be (batch, {self.n_mels}, frames), got {tuple(spectrograms.shape)}")
        maps = self.features(spectrograms.unsqueeze(1))  # (B, C, mels', frames')
        return self.project(maps.mean(2).transpose(1, 2))  # average over frequency: (B, frames', dim)


class TextOnly(nn.Module):
    """The text vector alone, through a small MLP."""

    reads_tokens = False  # the classifier need not run the second modality's encoder for it

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, num_labels))

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(text)


class TokensOnly(nn.Module):
    """The image (or audio) tokens alone, mean-pooled, through a small MLP."""

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(token_dim, hidden), nn.GELU(), nn.Linear(hidden, num_labels))

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(tokens.mean(1))


class EarlyFusion(nn.Module):
    """MLP([text; mean of tokens])."""

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(text_dim + token_dim, hidden), nn.GELU(), nn.Linear(hidden, num_labels))

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([text, tokens.mean(1)], dim=-1))


class LateFusion(nn.Module):
    """w_text · log p_text + w_tokens · log p_tokens, each p from its own classifier; the weights are learned."""

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128) -> None:
        super().__init__()
        self.text, self.tokens = TextOnly(text_dim, token_dim, num_labels, hidden), TokensOnly(
            text_dim, token_dim, num_labels, hidden)
        self.log_weights = nn.Parameter(torch.zeros(2))

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        weights = self.log_weights.exp()
        return (weights[0] * self.text(text, tokens).log_softmax(-1)
                + weights[1] * self.tokens(text, tokens).log_softmax(-1))


class CrossAttentionFusion(nn.Module):
    """The text vector queries the tokens with multi-head attention; classify [text; attended; pooled]."""

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128, heads: int = 4) -> None:
        super().__init__()
        check_positive_int("heads", heads)
        if token_dim % heads:
            raise ValueError(f"token_dim ({token_dim}) must be divisible by heads ({heads})")
        self.query = nn.Linear(text_dim, token_dim)
        self.attention = nn.MultiheadAttention(token_dim, heads, batch_first=True)
        self.head = nn.Sequential(nn.Linear(text_dim + 2 * token_dim, hidden), nn.GELU(),
                                  nn.Linear(hidden, num_labels))
        self.last_weights: torch.Tensor | None = None  # (B, P) attention over the tokens, for plots

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        attended, weights = self.attention(self.query(text).unsqueeze(1), tokens, tokens)
        self.last_weights = weights.squeeze(1).detach()
        return self.head(torch.cat([text, attended.squeeze(1), tokens.mean(1)], dim=-1))


class GatedFusion(nn.Module):
    """A gated multimodal unit: z = σ(W[t; v]), h = z ⊙ tanh(W_t t) + (1 − z) ⊙ tanh(W_v v)."""

    def __init__(self, text_dim: int, token_dim: int, num_labels: int, hidden: int = 128) -> None:
        super().__init__()
        self.text, self.tokens = nn.Linear(text_dim, hidden), nn.Linear(token_dim, hidden)
        self.gate = nn.Linear(text_dim + token_dim, hidden)
        self.head = nn.Linear(hidden, num_labels)
        self.last_gate: torch.Tensor | None = None  # (B, hidden): the share of text, for plots

    def forward(self, text: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        pooled = tokens.mean(1)
        gate = torch.sigmoid(self.gate(torch.cat([text, pooled], dim=-1)))
        self.last_gate = gate.detach()
        return self.head(gate * torch.tanh(self.text(text)) + (1 - gate) * torch.tanh(self.tokens(pooled)))


HEADS: dict[str, type[nn.Module]] = {"text only": TextOnly, "tokens only": TokensOnly, "early": EarlyFusion,
                                     "late": LateFusion, "cross-attention": CrossAttentionFusion,
                                     "gated": GatedFusion}


class MultimodalClassifier(nn.Module):
    """An encoder for the second modality (:class:`ImageEncoder` or :class:`AudioEncoder`) and a head from
    :data:`HEADS` that reads (text vector, tokens). The text vectors come precomputed from a frozen encoder."""

    def __init__(self, encoder: nn.Module, head: str, text_dim: int, token_dim: int, num_labels: int,
                 hidden: int = 128) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {list(HEADS)}, got {head!r}")
        check_positive_int("num_labels", num_labels)
        self.encoder, self.head_name = encoder, head
        self.head = HEADS[head](text_dim, token_dim, num_labels, hidden)

    def forward(self, text: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        reads_tokens = getattr(self.head, "reads_tokens", True)  # every head but TextOnly reads the tokens
        tokens = self.encoder(inputs) if reads_tokens else inputs.new_zeros(len(text), 1, 1)
        return self.head(text, tokens)
