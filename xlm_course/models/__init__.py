"""Models of the course: attention from scratch (chapter 2); encoders and fusion modules come later."""

from .attention import EncoderBlock, MultiHeadAttention, scaled_dot_product_attention

__all__ = ["EncoderBlock", "MultiHeadAttention", "scaled_dot_product_attention"]
