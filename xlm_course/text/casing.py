"""Text as people write it, and back (chapter 3.9): :func:`as_written` and :func:`normalise`.

The ``emoji`` package writes the CLDR names in lower case ("lächelndes gesicht"), in every language but English and
Russian, which keep capitals in about one name in six ("Aries"), so a classifier trained on them has hardly seen a
capital letter or a stop, while people write "Lächelndes Gesicht." — German capitalises its nouns, every Latin,
Cyrillic and Greek sentence starts with a capital, and Turkish pairs ``i``/``İ`` and ``ı``/``I`` where every other
language pairs ``i``/``I`` (Python's ``str.upper`` and ``str.lower`` follow Unicode's default,
not Turkish: ``"i".upper() == "I"``). :func:`as_written` turns a lowercase name into what a writer of the language
types; :func:`normalise` maps either back to the form the names were trained in, so that casing and a final stop
cannot change a prediction. German nouns are found by HanTa's tagger (Wartena 2019), which tags lowercase
German well: it reads "gesicht" as the noun *Gesicht* and "links" as the adverb *links*.
"""

from __future__ import annotations

import unicodedata
from functools import cache

# A final stop as each script writes it; the names of the emoji data have none.
FULL_STOP = {"zh-Hans": "。", "ja": "。", "hi": "।"}
_STOPS = ".。।!?！？…"
_TURKIC = ("tr", "az")


def _upper_first(word: str, lang: str) -> str:
    if not word:
        return word
    first = word[0]
    if lang in _TURKIC and first in "iı":
        return {"i": "İ", "ı": "I"}[first] + word[1:]
    upper = first.upper()
    # only where lowercase gives the letter back: "ß".upper() is "SS", and outside Turkish "ı".upper() is "I"
    return upper + word[1:] if len(upper) == 1 and upper.lower() == first else word


@cache
def _german_tagger() -> object:
    from HanTa import HanoverTagger

    return HanoverTagger.HanoverTagger("morphmodel_ger.pgz")


def _german_nouns(words: list[str]) -> list[bool]:
    """Which of ``words`` are nouns or names (STTS tags NN, NE) in the sentence they form."""
    return [tag in ("NN", "NE") for tag in _german_tagger().tag_sent(words, taglevel=0)]


def as_written(text: str, lang: str, stop: bool = True) -> str:
    """``text`` (a lowercase name) as a writer of ``lang`` types it: the first letter capitalised (a no-op in
    scripts without case), German nouns capitalised, and, if ``stop``, the script's full stop at the end.

    >>> as_written("lächelndes gesicht", "de")
    'Lächelndes Gesicht.'
    >>> as_written("ılık", "tr", stop=False)
    'Ilık'
    """
    if not isinstance(text, str) or not isinstance(lang, str):
        raise TypeError(f"text and lang must be strings, got {type(text).__name__} and {type(lang).__name__}")
    words = text.split(" ")
    if lang == "de":
        tokens = [word for word in words if word]
        nouns = iter(_german_nouns(tokens)) if tokens else iter(())
        words = [_upper_first(word, lang) if word and next(nouns) else word for word in words]
    words[0] = _upper_first(words[0], lang)
    written = " ".join(words)
    return written + FULL_STOP.get(lang, ".") if stop and written else written


def normalise(text: str, lang: str) -> str:
    """The form the emoji names were trained in: Unicode NFKC, lowercase (Turkish ``İ`` → ``i``, ``I`` → ``ı``),
    no final stops, single spaces. ``normalise(as_written(name, lang), lang) == normalise(name, lang)`` for every
    name and language (``tests/text/test_casing.py`` checks it on every emoji name).

    >>> normalise("Lächelndes  Gesicht.", "de")
    'lächelndes gesicht'
    """
    if not isinstance(text, str) or not isinstance(lang, str):
        raise TypeError(f"text and lang must be strings, got {type(text).__name__} and {type(lang).__name__}")
    text = unicodedata.normalize("NFKC", text)
    if lang in _TURKIC:  # before lower(): "İ".lower() is "i" + a combining dot, "I".lower() is "i"
        text = text.replace("İ", "i").replace("I", "ı")
    return " ".join(text.lower().rstrip(_STOPS + " ").split())
