"""Multimodal fusion on emoji (chapters 3.6–3.7): pictures or speech with multilingual text.

:mod:`.classification` (fusion heads trained to predict an emoji's category), :mod:`.alignment` (CLIP-style
image–text alignment, retrieval in every language) and :mod:`.spectrogram` (log-mel features of speech).
"""

from .alignment import ImageTextAligner, retrieval_by_language, train_aligner
from .classification import (
    AlignerConfig,
    EmojiSplit,
    MultimodalConfig,
    accuracy_by_language,
    emoji_split,
    encode_tokens,
    predict,
    text_vectors,
    train_classifier,
)

__all__ = [
    "AlignerConfig", "EmojiSplit", "ImageTextAligner", "MultimodalConfig", "accuracy_by_language", "emoji_split", "encode_tokens",
    "predict", "retrieval_by_language", "text_vectors", "train_aligner", "train_classifier",
]
