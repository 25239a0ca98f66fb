"""Monolingual text in ~750 languages: the UDHR samples that Google Fonts keeps in ``gflanguages``.

Google Fonts tests its fonts on passages of the Universal Declaration of Human Rights in each language
(``sample_text`` of a language's record). We keep the longest passages, cut into paragraphs: a few hundred
characters per language, many of them low-resource languages that no other source here covers. The passages
are not aligned sentence by sentence, but the same field holds the same part of the Declaration in every
language (``specimen_36`` is usually Article 1), so a split by concept keeps a passage and its translations
together.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import datasets

from .languages import select_languages, to_bcp47
from .provenance import Source, build_dataset

GFLANGUAGES = Source(
    name="udhr-samples",
    package="gflanguages",
    licence="Apache-2.0 (gflanguages, Google Fonts); the UDHR text itself is published by the UN OHCHR for "
    "free use",
    homepage="https://github.com/googlefonts/lang",
    description="Passages of the Universal Declaration of Human Rights used as font sample text, with each "
    "language's name, script and speaker population.",
)

_FIELDS = ("specimen_36", "specimen_32", "specimen_21", "specimen_16")


@cache
def _records() -> dict[str, tuple[str, str, str, int, tuple[tuple[str, str], ...]]]:
    """BCP-47 tag -> (gflanguages id, name, script, population, ((concept, paragraph), ...))."""
    import gflanguages

    records = {}
    for language_id, record in sorted(gflanguages.LoadLanguages().items()):
        if not record.HasField("sample_text"):
            continue
        paragraphs, seen = [], set()
        for field in _FIELDS:
            for index, paragraph in enumerate(getattr(record.sample_text, field).split("\n")):
                paragraph = " ".join(paragraph.split())
                if len(paragraph) >= 20 and paragraph not in seen:
                    seen.add(paragraph)
                    paragraphs.append((f"udhr-{field}-{index}", paragraph))
        try:
            tag = to_bcp47(language_id)
        except ValueError:  # a handful of ids are not BCP-47 ('fr-gallo_Latn'): left out
            continue
        if paragraphs and tag not in records:
            records[tag] = (language_id, record.name, record.script, int(record.population), tuple(paragraphs))
    return records


def available_udhr_languages() -> list[str]:
    """Every language with a UDHR sample, as BCP-47 tags."""
    return sorted(_records())


def load_udhr(languages: Iterable[str] | None = None) -> datasets.Dataset:
    """UDHR paragraphs, one row per paragraph and language.

    Columns: ``concept`` (which passage of the Declaration), ``lang``, ``text``, ``name`` (English name of the
    language), ``script`` (ISO 15924) and ``speakers`` (population estimate from Google Fonts).
    """
    records = _records()
    chosen = select_languages(languages, sorted(records), "gflanguages' UDHR samples")
    rows = []
    for tag in chosen:
        _, name, script, population, paragraphs = records[tag]
        rows += [{"concept": concept, "lang": tag, "text": paragraph, "name": name, "script": script,
                  "speakers": population} for concept, paragraph in paragraphs]
    return build_dataset(rows, ("concept", "lang", "text", "name", "script", "speakers"), GFLANGUAGES)
