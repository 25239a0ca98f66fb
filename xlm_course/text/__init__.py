"""Text processing shared by the chapters: the multilingual tokenizer and its per-language statistics, and text
as people write it (casing)."""

from .casing import as_written, normalise
from .fertility import fertility_table, token_premium
from .ngrams import char_ngram_vectors, char_ngrams
from .tokenizer import BYTE_PIECES, MASK_TOKEN, MIN_VOCAB_SIZE, SPECIAL_TOKENS, train_tokenizer

__all__ = ["BYTE_PIECES", "MASK_TOKEN", "MIN_VOCAB_SIZE", "SPECIAL_TOKENS", "as_written", "char_ngram_vectors",
           "char_ngrams", "fertility_table", "normalise", "token_premium", "train_tokenizer"]
