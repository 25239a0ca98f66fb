"""Language tags: every loader speaks BCP-47 (``en``, ``zh-Hans``, ``sr-Latn``), whatever its source uses.

Sources name languages in their own ways: gettext locales (``zh_Hans``), ISO 639-1 codes (``zh``),
English names (``chinese``), or language plus script (``sw_Latn``). :func:`to_bcp47` gives one canonical
tag to the same language whatever the source, so that tags can be compared across corpora:

* the script subtag is written when CLDR has locales of that language in its usual script *and* another one
  (Chinese: ``zh`` -> ``zh-Hans``, ``zh_Hant`` -> ``zh-Hant``; Serbian: ``sr`` -> ``sr-Cyrl``);
* otherwise the usual script is left out (``sw_Latn`` -> ``sw``, ``yo-Latn`` -> ``yo``), and an unusual one
  is kept (``hi-Latn`` for romanised Hindi);
* the rest follows ``langcodes.standardize_tag`` (case, deprecated codes: ``iw`` -> ``he``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import langcodes
from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers

# The course's ten languages, English first (the pivot of every parallel pair): five scripts, high-resource
# (fr, de, es, ru, ja, zh-Hans) beside low-resource ones (hi, sw) and a right-to-left one (ar). The UI catalogues
# align messages across them (data.catalogues) and chapter 3 pretrains on them.
COURSE_LANGUAGES: tuple[str, ...] = ("en", "zh-Hans", "ar", "hi", "sw", "fr", "de", "es", "ru", "ja")


@cache
def _cldr_language_scripts() -> frozenset[str]:
    """'lang_Script' for every CLDR locale that names its script explicitly (zh_Hans, sr_Latn, ...)."""
    return frozenset("_".join(name.split("_")[:2]) for name in locale_identifiers()
                     if len(name.split("_")) > 1 and len(name.split("_")[1]) == 4)


@cache
def to_bcp47(tag: str) -> str:
    """Canonical BCP-47 tag (``zh_Hans`` -> ``zh-Hans``, ``zh`` -> ``zh-Hans``, ``sw_Latn`` -> ``sw``)."""
    if not isinstance(tag, str) or not tag.strip():
        raise ValueError(f"A language tag must be a non-empty string such as 'en' or 'zh-Hans', got {tag!r}")
    try:
        language = langcodes.Language.get(langcodes.standardize_tag(tag.strip().replace("_", "-")))
    except ValueError as error:  # langcodes.tag_parser.LanguageTagError is a ValueError
        raise ValueError(f"{tag!r} is not a valid language tag (BCP-47, e.g. 'en', 'zh-Hans', 'pt-BR')") from error
    usual = langcodes.Language.get(language.language).maximize().script
    multi_script = f"{language.language}_{usual}" in _cldr_language_scripts()
    script = language.script or (usual if multi_script else None)
    if script == usual and not multi_script:
        script = None
    return language.update_dict({"script": script}).to_tag()


def english_name(tag: str) -> str:
    """The language's English name from CLDR via babel (``zh-Hans`` -> ``Chinese (Simplified)``)."""
    try:
        return Locale.parse(to_bcp47(tag), sep="-").english_name or tag
    except (UnknownLocaleError, ValueError):
        return tag


def native_name(tag: str) -> str:
    """The language's own name for itself (``hi`` -> ``हिन्दी``), or the tag when CLDR lacks it."""
    try:
        return Locale.parse(to_bcp47(tag), sep="-").display_name or tag
    except (UnknownLocaleError, ValueError):
        return tag


def select_languages(requested: Iterable[str] | None, available: Sequence[str], source: str) -> list[str]:
    """Normalise ``requested`` and check each against ``available`` (all of them when ``None``).

    An unknown language is a ``ValueError`` that lists what the source offers.
    """
    if requested is None:
        return list(available)
    if isinstance(requested, str):
        raise TypeError(f"languages must be a list of tags such as ['en', 'zh-Hans'], not the string {requested!r}")
    chosen = [to_bcp47(tag) for tag in requested]
    if not chosen:
        raise ValueError(f"languages is empty; {source} offers: {', '.join(sorted(available))}")
    unknown = [tag for tag in chosen if tag not in available]
    if unknown:
        raise ValueError(
            f"{source} has no language {', '.join(map(repr, unknown))}. "
            f"Available ({len(available)}): {', '.join(sorted(available))}"
        )
    duplicates = sorted({tag for tag in chosen if chosen.count(tag) > 1})
    if duplicates:
        raise ValueError(f"languages lists {', '.join(duplicates)} more than once")
    return chosen
