"""All sources as one multilingual text corpus, and parallel pairs from the aligned ones (chapters 1, 3, 5)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import datasets

from .catalogues import available_ui_languages, load_ui_messages
from .dialogues import DIALOGUE_LANGUAGES, load_dialogues
from .emoji_names import EMOJI_LANGUAGES, load_emoji_names
from .languages import to_bcp47
from .udhr import available_udhr_languages, load_udhr

SOURCES: dict[str, tuple[Callable[[], list[str]], Callable[..., datasets.Dataset]]] = {
    "ui": (available_ui_languages, load_ui_messages),
    "emoji": (lambda: list(EMOJI_LANGUAGES), load_emoji_names),
    "dialogues": (lambda: list(DIALOGUE_LANGUAGES), load_dialogues),
    "udhr": (available_udhr_languages, load_udhr),
}


def _texts(name: str, part: datasets.Dataset) -> dict[str, list[str]]:
    concepts, languages = list(part["concept"]), list(part["lang"])
    if name == "dialogues":  # a (question, answer) row holds two texts of the same concept
        return {
            "source": [name] * (2 * len(part)),
            "concept": concepts * 2,
            "lang": languages * 2,
            "text": list(part["question"]) + list(part["answer"]),
        }
    return {"source": [name] * len(part), "concept": concepts, "lang": languages, "text": list(part["text"])}


def load_corpus(languages: Iterable[str], sources: Iterable[str] = tuple(SOURCES)) -> datasets.Dataset:
    """Every text of ``sources`` in ``languages``: columns ``source``, ``concept``, ``lang`` and ``text``.

    A language is taken from each source that has it; a language that no chosen source has is an error.
    """
    if isinstance(languages, str):
        raise TypeError(f"languages must be a list of tags such as ['en', 'zh-Hans'], not the string {languages!r}")
    chosen_sources = list(sources)
    unknown_sources = [name for name in chosen_sources if name not in SOURCES]
    if unknown_sources or not chosen_sources:
        raise ValueError(f"unknown or no sources {unknown_sources}; available: {', '.join(SOURCES)}")
    wanted = [to_bcp47(tag) for tag in languages]
    if not wanted:
        raise ValueError("languages is empty")
    available = {name: set(SOURCES[name][0]()) for name in chosen_sources}
    missing = [tag for tag in wanted if not any(tag in langs for langs in available.values())]
    if missing:
        offered = "; ".join(f"{name}: {', '.join(sorted(langs))}" for name, langs in available.items()
                            if name != "udhr")
        udhr = f" (udhr has {len(available['udhr'])} languages, see available_udhr_languages())" \
            if "udhr" in available else ""
        raise ValueError(f"no source among {chosen_sources} has {missing}. Available: {offered}{udhr}")
    columns: dict[str, list] = {"source": [], "concept": [], "lang": [], "text": []}
    for name in chosen_sources:
        present = [tag for tag in wanted if tag in available[name]]
        if present:
            for key, values in _texts(name, SOURCES[name][1](present)).items():
                columns[key].extend(values)
    return datasets.Dataset.from_dict(columns)


def parallel_pairs(dataset: datasets.Dataset, source_lang: str, target_lang: str, text_column: str = "text",
                   pair_by: str | None = None) -> datasets.Dataset:
    """Pair the rows of two languages that translate the same item: columns ``concept``, ``source``, ``target``.

    Rows are paired by ``pair_by``: by default the ``message`` column where there is one (UI messages: several
    messages may share a concept), else ``concept``. Each pair keeps the concept of its rows.
    """
    pair_by = pair_by or ("message" if "message" in dataset.column_names else "concept")
    if pair_by not in dataset.column_names:
        raise ValueError(f"dataset has no column {pair_by!r} to pair rows by; its columns are {dataset.column_names}")
    source_lang, target_lang = to_bcp47(source_lang), to_bcp47(target_lang)
    # one columnar read: iterating a datasets column row by row is ~50× slower
    columns = dataset.select_columns(list(dict.fromkeys([pair_by, "concept", "lang", text_column]))).to_dict()
    present = set(columns["lang"])
    for tag in (source_lang, target_lang):
        if tag not in present:
            raise ValueError(f"the dataset has no rows in {tag!r}; it has {', '.join(sorted(present))}")
    if source_lang == target_lang:
        raise ValueError(f"source and target language are both {source_lang!r}")
    by_language: dict[str, dict[str, tuple[str, str]]] = {source_lang: {}, target_lang: {}}
    for key, concept, lang, text in zip(columns[pair_by], columns["concept"], columns["lang"], columns[text_column],
                                        strict=True):
        if lang in by_language:
            by_language[lang].setdefault(key, (concept, text))
    shared = sorted(set(by_language[source_lang]) & set(by_language[target_lang]))
    return datasets.Dataset.from_dict({
        "concept": [by_language[source_lang][key][0] for key in shared],
        "source": [by_language[source_lang][key][1] for key in shared],
        "target": [by_language[target_lang][key][1] for key in shared],
    })
