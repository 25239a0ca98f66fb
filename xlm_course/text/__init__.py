"""Text processing shared by the chapters: the multilingual tokenizer and its per-language statistics."""

from .fertility import fertility_table
from .tokenizer import BYTE_PIECES, MASK_TOKEN, MIN_VOCAB_SIZE, SPECIAL_TOKENS, train_tokenizer

__all__ = ["BYTE_PIECES", "MASK_TOKEN", "MIN_VOCAB_SIZE", "SPECIAL_TOKENS", "fertility_table", "train_tokenizer"]
