"""Models of the course: attention from scratch (chapter 2), the tiny XLM-R encoders and hub loading
(:mod:`.encoder`), fusion modules (:mod:`.fusion`, chapter 3.6) and parameter counts."""

from .attention import EncoderBlock, MultiHeadAttention, scaled_dot_product_attention
from .parameters import count_parameters

__all__ = ["EncoderBlock", "MultiHeadAttention", "count_parameters", "scaled_dot_product_attention"]
