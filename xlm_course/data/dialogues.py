"""Question–answer pairs from ``chatterbot-corpus``: short topic-labelled dialogues in 28 languages.

Each YAML file holds the dialogues of one topic in one language; a dialogue is a list of turns, and each
pair of consecutive turns becomes one (question, answer) row. Many non-English files are translations of the
English ones, turn for turn, so a dialogue and its translations must land in the same split. The *concept*
of a dialogue is therefore the connected group of

* the same topic and position in every file that has as many dialogues as the English file of that topic
  (a turn-by-turn translation keeps both the count and the positions), and
* the same opening line within a language and topic (``"你好"`` opens several Chinese greetings),

so that neither a translation nor a repeated question can cross from training into test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import datasets
import yaml

from .groups import UnionFind
from .languages import select_languages
from .provenance import Source, build_dataset

CHATTERBOT = Source(
    name="chatterbot-dialogues",
    package="chatterbot-corpus",
    licence="BSD-3-Clause (chatterbot-corpus by Gunther Cox and contributors)",
    homepage="https://github.com/gunthercox/chatterbot-corpus",
    description="Topic-labelled chatbot dialogues in 28 languages, cut into consecutive question/answer pairs.",
)

_FOLDER_TAGS = {
    "bengali": "bn", "chinese": "zh-Hans", "dutch": "nl", "english": "en", "french": "fr", "german": "de",
    "hebrew": "he", "hindi": "hi", "hinglish": "hi-Latn", "indonesian": "id", "italian": "it", "japanese": "ja",
    "korean": "ko", "marathi": "mr", "oriya": "or", "persian": "fa", "portuguese": "pt", "russian": "ru",
    "spanish": "es", "swedish": "sv", "tamil": "ta", "telugu": "te", "thai": "th", "traditionalchinese": "zh-Hant",
    "turkish": "tr", "ukrainian": "uk", "urdu": "ur", "yoruba": "yo",
}
# File names that name an English topic in another language or with a typo.
_TOPIC_ALIASES = {"ia": "ai", "dinero": "money", "emociones": "emotion", "emotions": "emotion",
                  "perfilbot": "botprofile", "profile": "botprofile", "psicologia": "psychology",
                  "coversations": "conversations", "greeting": "greetings", "computer": "computers"}
DIALOGUE_LANGUAGES: tuple[str, ...] = tuple(sorted(_FOLDER_TAGS.values()))


def _data_root() -> Path:
    import chatterbot_corpus

    return Path(chatterbot_corpus.__file__).parent / "data"


def _normalise(text: str) -> str:
    return " ".join(text.casefold().strip(" .!?。！？").split())


@cache
def _all_dialogues() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(lang, topic, position key, turns) of every dialogue of every language, in a fixed order."""
    dialogues = []
    for folder, tag in sorted(_FOLDER_TAGS.items()):
        for path in sorted((_data_root() / folder).glob("*.yml")):
            topic = _TOPIC_ALIASES.get(path.stem.lower(), path.stem.lower())
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for index, turns in enumerate(content.get("conversations") or []):
                if not isinstance(turns, list):  # a few files have a malformed entry (a bare string)
                    continue
                turns = tuple(str(turn).strip() for turn in turns if str(turn).strip())
                if len(turns) >= 2:
                    dialogues.append((tag, topic, f"{topic}/{index:04d}", turns))
    return tuple(dialogues)


@cache
def _concepts() -> dict[tuple[str, str], str]:
    """(lang, position key) -> concept, grouping translations and repeated openings (see module docstring)."""
    dialogues = _all_dialogues()
    counts = Counter((tag, topic) for tag, topic, _, _ in dialogues)
    groups = UnionFind()
    for tag, topic, position, turns in dialogues:
        node = f"d:{tag}:{position}"  # 'd:' sorts before 'o:' and 't:', so a group is named after a dialogue
        if counts[(tag, topic)] == counts.get(("en", topic), -1):
            groups.union(node, f"t:{position}")
        groups.union(node, f"o:{tag}:{topic}:{_normalise(turns[0])}")
    return {(tag, position): "dlg-" + groups.find(f"d:{tag}:{position}")[2:] for tag, _, position, _ in dialogues}


def load_dialogues(languages: Iterable[str] | None = None) -> datasets.Dataset:
    """Consecutive (question, answer) pairs of chatterbot dialogues, one row per pair.

    Columns: ``concept`` (the dialogue group, for splitting), ``dialogue`` (topic/position), ``lang``,
    ``topic``, ``turn`` (0 for the opening pair), ``question`` and ``answer``.
    """
    chosen = set(select_languages(languages, DIALOGUE_LANGUAGES, "chatterbot-corpus"))
    concepts = _concepts()
    rows = [
        {"concept": concepts[(tag, position)], "dialogue": position, "lang": tag, "topic": topic, "turn": turn,
         "question": question, "answer": answer}
        for tag, topic, position, turns in _all_dialogues() if tag in chosen
        for turn, (question, answer) in enumerate(zip(turns, turns[1:], strict=False))
    ]
    return build_dataset(rows, ("concept", "dialogue", "lang", "topic", "turn", "question", "answer"), CHATTERBOT)
